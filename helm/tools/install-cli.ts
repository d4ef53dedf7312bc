import { ensureChartTools, HELM_VERSION, KUBECONFORM_VERSION, KUBERNETES_VALIDATE } from "./install.ts";

// `npm run helm:tools`: builds the pinned helm and kubeconform into .tools/bin and prepares
// kubernetes-validate's schemas, unless they are there already (the chart tests do the same).
const tools = await ensureChartTools((line) => console.error(line));
console.log(`helm ${HELM_VERSION} at ${tools.helm}`);
console.log(`kubeconform ${KUBECONFORM_VERSION} at ${tools.kubeconform}`);
console.log(`kubernetes-validate ${KUBERNETES_VALIDATE.version} schemas at ${tools.schemas}`);

import { createRoot } from "react-dom/client";
import "../shared/styles.css";
import { Portal } from "./portal.tsx";

createRoot(document.getElementById("root") as HTMLElement).render(<Portal />);

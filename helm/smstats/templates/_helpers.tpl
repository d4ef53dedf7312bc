{{/* Chart name, truncated to the 63 characters Kubernetes names allow. */}}
{{- define "smstats.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name. */}}
{{- define "smstats.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "smstats.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "smstats.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component (ingest, processor, migrations). */}}
{{- define "smstats.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smstats.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "smstats.image" -}}
{{ printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end -}}

{{/* NATS URLs: the bundled cluster's client service, or the external list. */}}
{{- define "smstats.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- /* the NATS chart names its client Service <release>-nats (nats.fullname) */ -}}
{{- $svc := ternary .Release.Name (printf "%s-nats" .Release.Name) (contains "nats" .Release.Name) -}}
{{- printf "nats://%s:4222" ($svc | trunc 63 | trimSuffix "-") -}}
{{- else -}}
{{- required "nats.external.urls is required when nats.enabled is false" .Values.nats.external.urls -}}
{{- end -}}
{{- end -}}

{{/*
The settings every process shares, as a flat map of SMSTATS_* variables. The ClickHouse cluster variable
is set only in cluster mode, so a single-node install sets nothing the service would not know.
*/}}
{{- define "smstats.configEnv" -}}
SMSTATS_LOG_LEVEL: {{ .Values.config.logLevel | quote }}
SMSTATS_DATA_DIR: "/data"
SMSTATS_NATS_URL: {{ include "smstats.natsUrl" . | quote }}
{{- if and .Values.nats.enabled .Values.nats.config.cluster.enabled }}
{{- /* streams and consumers replicated on the bundled cluster's servers, at most 3 (R3) */}}
SMSTATS_NATS_REPLICAS: {{ min 3 (int .Values.nats.config.cluster.replicas) | toString | quote }}
{{- end }}
SMSTATS_CLICKHOUSE_URL: {{ .Values.clickhouse.url | quote }}
SMSTATS_CLICKHOUSE_USER: {{ .Values.clickhouse.user | quote }}
SMSTATS_CLICKHOUSE_DATABASE: {{ .Values.clickhouse.database | quote }}
{{- if eq .Values.clickhouse.mode "cluster" }}
SMSTATS_CLICKHOUSE_CLUSTER: {{ required "clickhouse.cluster is required when clickhouse.mode is cluster" .Values.clickhouse.cluster | quote }}
{{- end }}
{{- range $k, $v := .Values.config.extraEnv }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{/* Pod-level pieces shared by every workload: volumes for the writable data and tmp folders and the files Secret. */}}
{{- define "smstats.volumes" -}}
- name: data
  emptyDir: {}
- name: tmp
  emptyDir: {}
- name: files
  secret:
    secretName: {{ .Values.filesSecret }}
    # Group-readable: the kubelet gives the files to fsGroup (1000), the user the service runs as.
    defaultMode: 0440
{{- end -}}

{{- define "smstats.volumeMounts" -}}
- name: data
  mountPath: /data
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/*
Init container: copies the shared keys and role passwords from the Secret into the writable data folder
(the service tightens the keys folder's mode at start, which a Secret mount would refuse).
*/}}
{{- define "smstats.initFiles" -}}
- name: files
  image: {{ include "smstats.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command:
    - sh
    - -ec
    - |
      mkdir -p /data/keys /data/secrets
      chmod 700 /data/keys /data/secrets
      for f in /files/*; do
        n=$(basename "$f")
        case "$n" in postgres_*.txt) d=/data/secrets ;; *) d=/data/keys ;; esac
        cp "$f" "$d/$n"
        chmod 600 "$d/$n"
      done
  securityContext: {{- toYaml .Values.securityContext | nindent 4 }}
  resources:
    requests: { cpu: 10m, memory: 16Mi }
    limits: { memory: 64Mi }
  volumeMounts:
    - name: data
      mountPath: /data
    - name: files
      mountPath: /files
      readOnly: true
{{- end -}}

{{/* Liveness, readiness and startup probes on the service's health routes. */}}
{{- define "smstats.probes" -}}
startupProbe:
  httpGet: { path: /health/live, port: http }
  {{- toYaml .Values.probes.startup | nindent 2 }}
livenessProbe:
  httpGet: { path: /health/live, port: http }
  {{- toYaml .Values.probes.liveness | nindent 2 }}
readinessProbe:
  httpGet: { path: /health/ready, port: http }
  {{- toYaml .Values.probes.readiness | nindent 2 }}
{{- end -}}

{{/* Names are capped at 63 characters: they become DNS labels. */}}
{{- define "modelyard.fullname" -}}
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

{{- define "modelyard.selectorLabels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Usage: include "modelyard.labels" (list $ "component") */}}
{{- define "modelyard.labels" -}}
{{- $ := index . 0 -}}
{{ include "modelyard.selectorLabels" $ }}
app.kubernetes.io/component: {{ index . 1 }}
app.kubernetes.io/version: {{ $.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" $.Chart.Name $.Chart.Version }}
{{- end -}}

{{- define "modelyard.componentSelector" -}}
{{- $ := index . 0 -}}
{{ include "modelyard.selectorLabels" $ }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Usage: include "modelyard.image" (list $ .Values.images.serving). Our images default to appVersion;
     a digest (sha256:...) pins the image by content: repository@digest. */}}
{{- define "modelyard.image" -}}
{{- $ := index . 0 -}}
{{- $img := index . 1 -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default $.Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* Every pod sets enableServiceLinks: false. Service links put <SVC>_PORT=tcp://IP:PORT into
every container; with the release named "modelyard" that includes MODELYARD_GATEWAY_PORT, which our
settings read as the gateway's port number, and every modelyard process would refuse to start. */}}

{{/* Restricted pod security: every pod runs as a non-root user with the runtime's seccomp profile. */}}
{{- define "modelyard.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Usage: include "modelyard.containerSecurityContext" true (read-only root filesystem or not). */}}
{{- define "modelyard.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: {{ . }}
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Usage: include "modelyard.imagePullSecrets" (list $ indent); renders nothing without secrets. */}}
{{- define "modelyard.imagePullSecrets" -}}
{{- $indent := index . 1 -}}
{{- with (index . 0).Values.imagePullSecrets }}
{{- $list := list }}
{{- range . }}{{ $list = append $list (dict "name" .) }}{{ end }}
{{- dict "imagePullSecrets" $list | toYaml | nindent $indent }}
{{- end }}
{{- end -}}

{{/*
A random secret value that survives upgrades: reuse the key from the live Secret when it
exists (helm `lookup`; empty during `helm template`), otherwise generate one.
Usage: include "modelyard.persistentRandom" (list $ secretName key)
*/}}
{{- define "modelyard.persistentRandom" -}}
{{- $ := index . 0 -}}
{{- $live := lookup "v1" "Secret" $.Release.Namespace (index . 1) -}}
{{- if and $live $live.data (hasKey $live.data (index . 2)) -}}
{{- index $live.data (index . 2) -}}
{{- else -}}
{{- randAlphaNum 40 | b64enc -}}
{{- end -}}
{{- end -}}

{{/* Secret names: the user's existingSecret, or the one this chart generates. */}}
{{- define "modelyard.s3SecretName" -}}
{{- if .Values.s3.existingSecret -}}
{{- .Values.s3.existingSecret -}}
{{- else if .Values.minio.enabled -}}
{{- printf "%s-s3" (include "modelyard.fullname" .) -}}
{{- else -}}
{{- fail "s3.existingSecret is required when minio.enabled=false (keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)" -}}
{{- end -}}
{{- end -}}

{{- define "modelyard.qdrantSecretName" -}}
{{- default (printf "%s-qdrant" (include "modelyard.fullname" .)) .Values.qdrant.existingSecret -}}
{{- end -}}

{{- define "modelyard.gatewaySecretName" -}}
{{- default (printf "%s-gateway" (include "modelyard.fullname" .)) .Values.gateway.existingSecret -}}
{{- end -}}

{{/* Endpoint URL of the object store as seen from pods. */}}
{{- define "modelyard.s3Endpoint" -}}
{{- if .Values.s3.endpoint -}}
{{- .Values.s3.endpoint -}}
{{- else if .Values.minio.enabled -}}
{{- printf "http://%s-minio.%s.svc:9000" (include "modelyard.fullname" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* Where training publishes versions (MODELYARD_MODEL_STORE_URI): the value, or the models bucket. */}}
{{- define "modelyard.modelStoreUri" -}}
{{- default (printf "s3://%s" .Values.s3.buckets.models) .Values.training.modelStoreUri | trimSuffix "/" -}}
{{- end -}}

{{/* Ray Train's shared storage (MODELYARD_RAY_STORAGE_URI) when the Ray cluster has worker pods: the
value, or <artifacts bucket>/ray-results on the chart's S3, addressed the way pyarrow takes an endpoint. */}}
{{- define "modelyard.rayStorageUri" -}}
{{- if .Values.training.storageUri -}}
{{- .Values.training.storageUri -}}
{{- else -}}
{{- $uri := printf "s3://%s/ray-results" .Values.s3.buckets.artifacts -}}
{{- with include "modelyard.s3Endpoint" . -}}
{{- $endpoint := urlParse . -}}
{{- $uri = printf "%s?endpoint_override=%s&scheme=%s" $uri $endpoint.host $endpoint.scheme -}}
{{- end -}}
{{- $uri -}}
{{- end -}}
{{- end -}}

{{- define "modelyard.qdrantUrl" -}}
{{- printf "http://%s-qdrant.%s.svc:6333" (include "modelyard.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "modelyard.mlflowUrl" -}}
{{- printf "http://%s-mlflow.%s.svc:5000" (include "modelyard.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* S3 client settings shared by MLflow, training and the transformers (boto3 reads these). */}}
{{- define "modelyard.s3Env" -}}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef: {name: {{ include "modelyard.s3SecretName" . }}, key: AWS_ACCESS_KEY_ID}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "modelyard.s3SecretName" . }}, key: AWS_SECRET_ACCESS_KEY}
- name: AWS_DEFAULT_REGION
  value: {{ .Values.s3.region | quote }}
{{- with include "modelyard.s3Endpoint" . }}
- name: MLFLOW_S3_ENDPOINT_URL
  value: {{ . | quote }}
- name: AWS_ENDPOINT_URL_S3
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Settings every modelyard process reads (pydantic settings, prefix MODELYARD_). */}}
{{- define "modelyard.platformEnv" -}}
- name: MODELYARD_STATE_DIR
  value: /tmp/modelyard
{{- if .Values.mlflow.enabled }}
- name: MODELYARD_MLFLOW_TRACKING_URI
  value: {{ include "modelyard.mlflowUrl" . | quote }}
- name: MLFLOW_TRACKING_URI
  value: {{ include "modelyard.mlflowUrl" . | quote }}
{{- end }}
{{- if .Values.qdrant.enabled }}
- name: MODELYARD_QDRANT_URL
  value: {{ include "modelyard.qdrantUrl" . | quote }}
- name: MODELYARD_QDRANT_API_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "modelyard.qdrantSecretName" . }}, key: api-key}
{{- end }}
- name: MLFLOW_DISABLE_TELEMETRY
  value: "true"
{{- end -}}

{{/* The payload and feedback logs' volume, its mount and settings (transformers and gateway). */}}
{{- define "modelyard.payloadLogVolume" -}}
- name: payload-log
  {{- if .Values.payloadLog.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.payloadLog.existingClaim }}
  {{- else }}
  emptyDir:
    sizeLimit: {{ .Values.payloadLog.sizeLimit }}
  {{- end }}
{{- end -}}
{{- define "modelyard.payloadLogMount" -}}
- name: payload-log
  mountPath: /var/lib/modelyard/logs
{{- end -}}
{{- define "modelyard.payloadLogEnv" -}}
- name: MODELYARD_PAYLOAD_DIR
  value: /var/lib/modelyard/logs/payloads
- name: MODELYARD_FEEDBACK_DIR
  value: /var/lib/modelyard/logs/feedback
- name: MODELYARD_PAYLOAD_SAMPLE_RATE
  value: {{ .Values.payloadLog.sampleRate | quote }}
- name: MODELYARD_PAYLOAD_LOG_DISABLED
  value: {{ .Values.payloadLog.disabledModels | toJson | quote }}
{{- end -}}

{{/* Writable scratch for read-only root filesystems. */}}
{{- define "modelyard.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- end -}}
{{- define "modelyard.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Probes of a KServe v2 server (transformer and Triton share the same health routes).
Knative accepts probes only on the serving port (8080 here) and no startup probe, so there
liveness waits out the load time instead.
Usage: include "modelyard.v2Probes" (list $ startupSeconds) */}}
{{- define "modelyard.v2Probes" -}}
{{- $ := index . 0 -}}
{{- $startup := index . 1 -}}
{{- $knative := eq $.Values.serving.deploymentMode "Knative" -}}
{{- if not $knative }}
startupProbe:
  httpGet: {path: /v2/health/live, port: 8080}
  periodSeconds: 5
  failureThreshold: {{ div $startup 5 }}
{{- end }}
livenessProbe:
  httpGet: {path: /v2/health/live, port: 8080}
  {{- if $knative }}
  initialDelaySeconds: {{ $startup }}
  {{- end }}
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /v2/health/ready, port: 8080}
  periodSeconds: 5
  failureThreshold: 3
{{- end -}}

{{/* NetworkPolicy peers: the listed components of this release.
Usage: include "modelyard.fromComponents" (list $ (list "gateway" ...)) */}}
{{- define "modelyard.fromComponents" -}}
{{- $ := index . 0 -}}
{{- range (index . 1) }}
- podSelector:
    matchLabels:
      {{- include "modelyard.componentSelector" (list $ .) | nindent 6 }}
{{- end }}
{{- end -}}

{{/* An ingress rule for the kubelet's probes: the nodes (networkPolicy.probeFrom) may reach the
probed ports. Some CNIs filter probes like any traffic (kindnet's network policies have, see
kube-network-policies#150, kind#3875). Renders nothing without probeFrom.
Usage: include "modelyard.probeIngress" (list $ (list 8080 ...)) */}}
{{- define "modelyard.probeIngress" -}}
{{- $cidrs := (index . 0).Values.networkPolicy.probeFrom -}}
{{- $ports := index . 1 -}}
{{- if $cidrs }}
- from:
    {{- range $cidrs }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  ports:
    {{- range $ports }}
    - {port: {{ . }}}
    {{- end }}
{{- end }}
{{- end -}}

{{/* An ingress rule for Prometheus (networkPolicy.prometheusFrom) to one metrics port. Renders nothing
without prometheusFrom. Usage: include "modelyard.prometheusIngress" (list $ port) */}}
{{- define "modelyard.prometheusIngress" -}}
{{- with (index . 0).Values.networkPolicy.prometheusFrom }}
- from:
    {{- toYaml . | nindent 4 }}
  ports: [{port: {{ index $ 1 }}}]
{{- end }}
{{- end -}}

{{/* Pod-level fields of a Triton predictor: placement (CPU or GPU nodes), identity, scratch volumes.
Usage: include "modelyard.predictorPod" (list $ component) */}}
{{- define "modelyard.predictorPod" -}}
{{- $ := index . 0 -}}
{{- $gpu := $.Values.gpu -}}
labels:
  {{- include "modelyard.labels" (list $ (index . 1)) | nindent 2 }}
serviceAccountName: {{ include "modelyard.fullname" $ }}-storage
automountServiceAccountToken: false
enableServiceLinks: false
{{- include "modelyard.imagePullSecrets" (list $ 0) }}
{{- with merge (dict) (ternary $gpu.nodeSelector (dict) $gpu.enabled) $.Values.serving.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with concat $.Values.serving.tolerations (ternary $gpu.tolerations (list) $gpu.enabled) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- include "modelyard.podSecurityContext" 1000 | nindent 2 }}
volumes:
  {{- include "modelyard.tmpVolume" $ | nindent 2 }}
  # The python backend exchanges tensors with its stub through shared memory.
  - name: dshm
    emptyDir:
      medium: Memory
      sizeLimit: 512Mi
{{- end -}}

{{/* The Triton model container of a predictor.
Usage: include "modelyard.tritonModel" (list $ modelValues storageUri) */}}
{{- define "modelyard.tritonModel" -}}
{{- $ := index . 0 -}}
{{- $m := index . 1 -}}
{{- $gpu := $.Values.gpu -}}
{{- $resources := deepCopy (default $.Values.serving.predictor.resources $m.predictorResources) -}}
{{- if $gpu.enabled -}}
{{- $_ := set $resources "limits" (merge (dict "nvidia.com/gpu" $gpu.count) $resources.limits) -}}
{{- $_ := set $resources "requests" (merge (dict "nvidia.com/gpu" $gpu.count) $resources.requests) -}}
{{- end -}}
modelFormat:
  name: triton
runtime: {{ include "modelyard.fullname" $ }}-triton
protocolVersion: v2
storageUri: {{ index . 2 | quote }}
{{- if $gpu.enabled }}
args:
  # Every publish writes <model>/configs/gpu.pbtxt (KIND_GPU instances) beside config.pbtxt
  # (KIND_CPU); this makes Triton load that one, so model.py runs the model on cuda:<device>.
  - --model-config-name=gpu
{{- end }}
env:
  # Torch threads per model instance on CPU (MODELYARD_PREDICTOR_CPU_THREADS locally): Triton
  # runs each model in its own stub process and batches requests itself.
  - name: OMP_NUM_THREADS
    value: {{ $.Values.serving.predictor.cpuThreads | quote }}
{{- include "modelyard.v2Probes" (list $ (int $.Values.serving.startupSeconds)) }}
resources:
  {{- toYaml $resources | nindent 2 }}
securityContext:
  {{- include "modelyard.containerSecurityContext" true | nindent 2 }}
volumeMounts:
  {{- include "modelyard.tmpMount" $ | nindent 2 }}
  - name: dshm
    mountPath: /dev/shm
{{- end -}}

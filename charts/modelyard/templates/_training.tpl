{{/* A Ray pod template (head or worker) running the training image.
Ray writes session files and its auth token under /tmp and the home directory, so the root
filesystem stays writable here; everything else follows the restricted profile.
Usage: include "modelyard.rayPod" (list $ containerName resources ports) */}}
{{- define "modelyard.rayPod" -}}
{{- $ := index . 0 -}}
metadata:
  labels:
    {{- include "modelyard.labels" (list $ "training") | nindent 4 }}
spec:
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- include "modelyard.imagePullSecrets" (list $ 2) }}
  securityContext:
    {{- include "modelyard.podSecurityContext" 1000 | nindent 4 }}
  containers:
    - name: {{ index . 1 }}
      image: {{ include "modelyard.image" (list $ $.Values.images.training) }}
      imagePullPolicy: {{ $.Values.pullPolicy }}
      env:
        # `yard train` publishes each new version's Triton repository there, with the S3 env below.
        - name: MODELYARD_MODEL_STORE_URI
          value: {{ include "modelyard.modelStoreUri" $ | quote }}
        {{- if gt (int $.Values.training.workers.replicas) 0 }}
        # Ray Train refuses a checkpoint folder local to the head once workers run on other pods.
        - name: MODELYARD_RAY_STORAGE_URI
          value: {{ include "modelyard.rayStorageUri" $ | quote }}
        {{- end }}
        {{- include "modelyard.platformEnv" $ | nindent 8 }}
        {{- include "modelyard.s3Env" $ | nindent 8 }}
      {{- with index . 3 }}
      ports:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      resources:
        {{- toYaml (index . 2) | nindent 8 }}
      securityContext:
        {{- include "modelyard.containerSecurityContext" false | nindent 8 }}
      volumeMounts:
        {{- include "modelyard.tmpMount" $ | nindent 8 }}
        # Ray's object store lives in shared memory.
        - name: dshm
          mountPath: /dev/shm
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 4Gi
    - name: dshm
      emptyDir:
        medium: Memory
        sizeLimit: 1Gi
{{- end -}}

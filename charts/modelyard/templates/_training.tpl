{{/* A Ray pod template (head or worker) running the training image.
Ray writes session files and its auth token under /tmp and the home directory, so the root
filesystem stays writable here; everything else follows the restricted profile.
logs: the payload and feedback logs mounted read-only (retraining reads its labelled window there),
and `yard` commands join this Ray cluster instead of starting their own.
Usage: include "modelyard.rayPod" (list $ containerName resources ports logs) */}}
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
        {{- if index . 4 }}
        {{- include "modelyard.payloadLogEnv" $ | nindent 8 }}
        - name: MODELYARD_RAY_ADDRESS
          value: auto
        {{- end }}
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
        {{- if index . 4 }}
        {{- include "modelyard.payloadLogMount" $ | nindent 8 }}
          readOnly: true
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 4Gi
    - name: dshm
      emptyDir:
        medium: Memory
        sizeLimit: 1Gi
    {{- if index . 4 }}
    {{- include "modelyard.payloadLogVolume" $ | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* A RayJob on a throwaway Ray cluster of the training image (values `training:`), used by the
training RayJobs (rayjobs.yaml) and the retraining manifest the CronJob creates (retraining.yaml).
Usage: include "modelyard.rayJob" (dict "root" $ "name" NAME "entrypoint" COMMAND
       ["labels" EXTRA_LABELS] ["logs" true: mount the payload logs read-only, join the cluster]) */}}
{{- define "modelyard.rayJob" -}}
{{- $ := .root -}}
{{- $t := $.Values.training -}}
apiVersion: ray.io/v1
kind: RayJob
metadata:
  name: {{ .name }}
  labels:
    {{- include "modelyard.labels" (list $ "training") | nindent 4 }}
    {{- with .labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  entrypoint: {{ .entrypoint | quote }}
  submissionMode: {{ $t.submissionMode }}
  shutdownAfterJobFinishes: {{ $t.shutdownAfterJobFinishes }}
  ttlSecondsAfterFinished: {{ $t.ttlSecondsAfterFinished }}
  activeDeadlineSeconds: {{ $t.activeDeadlineSeconds }}
  # A failed run is retried on a fresh Ray cluster (a run racing the bucket Job, a node lost);
  # KubeRay marks the RayJob Failed (jobDeploymentStatus) once the retries are spent.
  backoffLimit: {{ $t.backoffLimit }}
  {{- if eq $t.submissionMode "K8sJobMode" }}
  # Our own submitter pod, so it gets resources and the restricted security profile.
  # KubeRay fills in the `ray job submit` command.
  submitterPodTemplate:
    metadata:
      labels:
        {{- include "modelyard.labels" (list $ "training") | nindent 8 }}
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- include "modelyard.imagePullSecrets" (list $ 6) }}
      securityContext:
        {{- include "modelyard.podSecurityContext" 1000 | nindent 8 }}
      containers:
        - name: ray-job-submitter
          image: {{ include "modelyard.image" (list $ $.Values.images.training) }}
          imagePullPolicy: {{ $.Values.pullPolicy }}
          env:
            - name: HOME
              value: /tmp
          resources:
            {{- toYaml $t.submitter.resources | nindent 12 }}
          securityContext:
            {{- include "modelyard.containerSecurityContext" true | nindent 12 }}
          volumeMounts:
            {{- include "modelyard.tmpMount" $ | nindent 12 }}
      volumes:
        {{- include "modelyard.tmpVolume" $ | nindent 8 }}
  {{- end }}
  rayClusterSpec:
    rayVersion: {{ $t.rayVersion | quote }}
    headGroupSpec:
      rayStartParams:
        dashboard-host: {{ $.Values.bindHost | quote }}
      template:
        {{- $ports := list (dict "name" "gcs" "containerPort" 6379) (dict "name" "dashboard" "containerPort" 8265) (dict "name" "client" "containerPort" 10001) }}
        {{- include "modelyard.rayPod" (list $ "ray-head" $t.head.resources $ports .logs) | nindent 8 }}
    workerGroupSpecs:
      - groupName: workers
        replicas: {{ $t.workers.replicas }}
        minReplicas: {{ $t.workers.replicas }}
        maxReplicas: {{ $t.workers.replicas }}
        rayStartParams: {}
        template:
          {{- include "modelyard.rayPod" (list $ "ray-worker" $t.workers.resources list .logs) | nindent 10 }}
{{- end -}}

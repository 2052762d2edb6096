{{- define "ventros.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ventros.labels" -}}
app.kubernetes.io/name: ventros
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ventros.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "ventros.secretName" -}}
{{- .Values.existingSecret | default (printf "%s-secrets" (include "ventros.fullname" .)) -}}
{{- end -}}

{{- define "ventros.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "ventros.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* The environment every role (and the migration Job) gets. */}}
{{- define "ventros.envFrom" -}}
- configMapRef:
    name: {{ include "ventros.fullname" . }}-config
- secretRef:
    name: {{ include "ventros.secretName" . }}
{{- end -}}

{{/* Writable scratch space: the root filesystem is read-only. */}}
{{- define "ventros.volumes" -}}
- name: home
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- end -}}

{{- define "ventros.volumeMounts" -}}
- name: home
  mountPath: /var/lib/ventros
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Credentials: the Secret of the roles, and the migration hook's own copy. */}}
{{- define "ventros.secretData" -}}
VENTROS_DATABASE_URL: {{ .Values.postgresql.url | quote }}
VENTROS_RABBITMQ_URL: {{ .Values.rabbitmq.url | quote }}
VENTROS_REDIS_URL: {{ .Values.redis.url | quote }}
VENTROS_SECRET_KEY: {{ .Values.secretKey | quote }}
{{- if .Values.postgresql.appPassword }}
VENTROS_APP_DATABASE_PASSWORD: {{ .Values.postgresql.appPassword | quote }}
{{- end }}
{{- if .Values.postgresql.systemPassword }}
VENTROS_SYSTEM_DATABASE_PASSWORD: {{ .Values.postgresql.systemPassword | quote }}
{{- end }}
{{- if .Values.s3.bucket }}
VENTROS_MEDIA_STORE: "s3"
VENTROS_MEDIA_S3_ENDPOINT_URL: {{ .Values.s3.endpoint | quote }}
VENTROS_MEDIA_S3_BUCKET: {{ .Values.s3.bucket | quote }}
VENTROS_MEDIA_S3_REGION: {{ .Values.s3.region | quote }}
VENTROS_MEDIA_S3_ACCESS_KEY_ID: {{ .Values.s3.accessKeyId | quote }}
VENTROS_MEDIA_S3_SECRET_ACCESS_KEY: {{ .Values.s3.secretAccessKey | quote }}
{{- end }}
{{- end -}}

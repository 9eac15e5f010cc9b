{{/* Names, labels and images shared by the templates. */}}

{{- define "tda.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release name alone when it already names the platform (e.g. "tda"), else "<release>-<chart>". */}}
{{- define "tda.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains .Release.Name $name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tda.labels" -}}
{{ include "tda.sharedLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tda.sharedLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tda-platform
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component ("operator", "api"). */}}
{{- define "tda.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tda.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tda.componentLabels" -}}
{{ include "tda.sharedLabels" .root }}
{{ include "tda.selectorLabels" . }}
{{- end }}

{{- define "tda.operator.fullname" -}}
{{- printf "%s-operator" (include "tda.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tda.api.fullname" -}}
{{- printf "%s-api" (include "tda.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tda.operator.serviceAccountName" -}}
{{- default (include "tda.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- end }}

{{- define "tda.api.serviceAccountName" -}}
{{- default (include "tda.api.fullname" .) .Values.api.serviceAccount.name }}
{{- end }}

{{/* "<repository>/<image>:<tag>" for image "operator", "api", "worker" or "flink". */}}
{{- define "tda.image" -}}
{{- printf "%s/%s:%s" .root.Values.image.repository .image (default .root.Chart.AppVersion .root.Values.image.tag) }}
{{- end }}

{{- define "tda.podSecurity" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* A writable /tmp under a read-only root filesystem. */}}
{{- define "tda.tmpVolume" -}}
- name: tmp
  emptyDir: {sizeLimit: 64Mi}
{{- end }}

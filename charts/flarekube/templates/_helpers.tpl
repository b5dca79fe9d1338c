{{/* Names and labels of the chart's objects; rbac.yaml uses flarekube.serviceAccountName too. */}}

{{- define "flarekube.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "flarekube.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "flarekube.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flarekube.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "flarekube.labels" -}}
{{ include "flarekube.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flarekube
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "flarekube.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "flarekube.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "flarekube.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Prometheus Operator objects need both the switch and the API (a plain cluster has neither). */}}
{{- define "flarekube.prometheusOperator" -}}
{{- if and .Values.monitoring.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") -}}
true
{{- end -}}
{{- end -}}

{{/*
The namespaces the operator reconciles when it is not cluster-wide: its own, then watchNamespaces (each
once), as a comma-separated list. Least privilege by default (issue 12): a Role per namespace.
*/}}
{{- define "flarekube.watched" -}}
{{- $ns := list .Release.Namespace -}}
{{- range .Values.watchNamespaces }}{{- if not (has . $ns) }}{{- $ns = append $ns . -}}{{- end }}{{- end -}}
{{- join "," $ns -}}
{{- end }}

{{- define "istiod.suffix" -}}
{{- if and .Values.revision (ne .Values.revision "default") }}-{{ .Values.revision }}{{ end -}}
{{- end }}

{{- define "istiod.name" -}}
istiod{{ include "istiod.suffix" . }}
{{- end }}

{{- define "istiod.rev" -}}
{{ .Values.revision | default "default" }}
{{- end }}

{{- define "istiod.tag" -}}
{{ .Values.global.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "istiod.labels" -}}
app: istiod
istio: pilot
{{ include "istiod.commonLabels" . }}
{{- end }}

{{- define "istiod.commonLabels" -}}
istio.io/rev: {{ include "istiod.rev" . | quote }}
release: {{ .Release.Name }}
app.kubernetes.io/name: istiod
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: istiod-{{ .Chart.Version }}
{{- end }}

{{- define "istiod.isDefault" -}}
{{- if or (not .Values.revision) (eq .Values.revision "default") }}true{{ end -}}
{{- end }}

{{- define "istiod.mesh" -}}
{{- $mesh := deepCopy .Values.meshConfig -}}
{{- if and (eq .Values.profile "demo") (not (hasKey $mesh "accessLogFile")) }}
{{- $_ := set $mesh "accessLogFile" "/dev/stdout" }}
{{- end }}
{{- if not (hasKey $mesh "rootNamespace") }}
{{- $_ := set $mesh "rootNamespace" .Values.global.istioNamespace }}
{{- end }}
{{- $dc := deepCopy (default dict $mesh.defaultConfig) -}}
{{- $_ := set $dc "discoveryAddress" (printf "%s.%s.svc:15012" (include "istiod.name" .) .Values.global.istioNamespace) }}
{{- if .Values.global.meshID }}
{{- $_ := set $dc "meshId" .Values.global.meshID }}
{{- end }}
{{- $_ := set $mesh "defaultConfig" $dc }}
{{- toYaml $mesh }}
{{- end }}

{{- /* What the real chart puts on its service account and cluster roles: no istio label, no revision. */ -}}
{{- define "istiod.plainLabels" -}}
app: istiod
release: {{ .Release.Name }}
app.kubernetes.io/name: istiod
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

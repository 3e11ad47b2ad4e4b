{{/*
The release's name prefix, at most 30 characters so that
<fullname>-<cluster>-<role> fits Kubernetes' 63 (cluster at most 21).
*/}}
{{- define "drc.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 30 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 30 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "drc.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "drc.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "drc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
drc.pipeline checks pipeline number .i of .root.Values.pipelines and returns
it as JSON with the fields the templates use filled in: name (the cluster as
a Kubernetes name), config (the merged drc.yaml), secretName (or "").
*/}}
{{- define "drc.pipeline" -}}
{{- $p := .p -}}
{{- $where := printf "pipelines[%d]" .i -}}
{{- if not $p.cluster -}}
{{- fail (printf "%s.cluster: required (the config's cluster)" $where) -}}
{{- end -}}
{{- $name := $p.cluster | toString | lower | replace "_" "-" | replace "." "-" -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $name) -}}
{{- fail (printf "%s.cluster: %q does not make a Kubernetes name" $where $p.cluster) -}}
{{- end -}}
{{- if gt (len $name) 21 -}}
{{- fail (printf "%s.cluster: %q is longer than 21 characters, too long for <release>-<cluster>-<role> names" $where $p.cluster) -}}
{{- end -}}
{{- if not $p.roles -}}
{{- fail (printf "%s.roles: list at least one of replicator, applier, idgen" $where) -}}
{{- end -}}
{{- range $p.roles -}}
{{- if not (has . (list "replicator" "applier" "idgen")) -}}
{{- fail (printf "%s.roles: unknown role %q (replicator, applier, idgen)" $where .) -}}
{{- end -}}
{{- end -}}
{{- if and $p.secrets $p.existingSecret -}}
{{- fail (printf "%s: secrets and existingSecret are both set; keep one" $where) -}}
{{- end -}}
{{- $config := mustMergeOverwrite (deepCopy (default (dict) .root.Values.config)) (deepCopy (default (dict) $p.config)) (dict "cluster" ($p.cluster | toString)) -}}
{{- $secretName := "" -}}
{{- if $p.existingSecret -}}
{{- $secretName = $p.existingSecret -}}
{{- else if $p.secrets -}}
{{- $secretName = printf "%s-%s" (include "drc.fullname" .root) $name -}}
{{- end -}}
{{- dict "name" $name "config" $config "secretName" $secretName | toJson -}}
{{- end -}}

{{/*
drc.region is the region a role runs in, from the merged config: where the
alerts' region label comes from.
*/}}
{{- define "drc.region" -}}
{{- if eq .role "replicator" -}}
{{- dig "source" "region" "" .config -}}
{{- else if eq .role "applier" -}}
{{- dig "target" "region" "" .config -}}
{{- else -}}
{{- dig "idgen" "mysql" "region" (dig "source" "region" "" .config) .config -}}
{{- end -}}
{{- end -}}

{{/*
drc.gomemlimit is 90% of a memory quantity in Mi or Gi, in MiB.
*/}}
{{- define "drc.gomemlimit" -}}
{{- $q := toString .q -}}
{{- $mib := 0 -}}
{{- if regexMatch "^[0-9]+Gi$" $q -}}
{{- $mib = mul (trimSuffix "Gi" $q | atoi) 1024 -}}
{{- else if regexMatch "^[0-9]+Mi$" $q -}}
{{- $mib = trimSuffix "Mi" $q | atoi -}}
{{- else -}}
{{- fail (printf "%s: %q: give the memory limit in Mi or Gi (GOMEMLIMIT is derived from it)" .where $q) -}}
{{- end -}}
{{- printf "%dMiB" (div (mul $mib 9) 10) -}}
{{- end -}}

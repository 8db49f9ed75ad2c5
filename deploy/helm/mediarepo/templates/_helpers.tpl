{{/* Names and labels shared by every object of the chart. */}}

{{- define "mediarepo.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* mediarepo.labels: standard labels; call with (dict "ctx" . "component" "x"). */}}
{{- define "mediarepo.labels" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/component: {{ .component }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version }}
{{- end -}}

{{/* mediarepo.selector: the labels a component's pods are selected by. */}}
{{- define "mediarepo.selector" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* mediarepo.image: repository:tag of one of .Values.image.* */}}
{{- define "mediarepo.image" -}}
{{- printf "%s:%s" .img.repository (default .ctx.Chart.AppVersion .img.tag) -}}
{{- end -}}

{{/* Hardened security context of every container. */}}
{{- define "mediarepo.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Pod security context of mediarepo and scanworker (distroless nonroot). */}}
{{- define "mediarepo.podSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Paths where the Secrets are mounted; the config names them. */}}
{{- define "mediarepo.secretPaths" -}}
masterKeys: /run/secrets/master-keys
contentScanner: /run/secrets/content-scanner/key
s3Access: /run/secrets/s3/access_key
s3Secret: /run/secrets/s3/secret_key
postgres: /run/secrets/postgres/dsn
nats: /run/secrets/nats/nats.creds
signingKey: /run/secrets/federation/signing.key
{{- end -}}

{{/*
mediarepo.config renders mediarepo.yaml: what the chart wires (listeners,
external services, secret files), then .Values.config merged over it.
*/}}
{{- define "mediarepo.config" -}}
{{- $p := include "mediarepo.secretPaths" . | fromYaml -}}
{{- $full := include "mediarepo.fullname" . -}}
{{- $cfg := dict
  "listen" (printf "0.0.0.0:%d" (int .Values.service.port))
  "admin_listen" (printf "0.0.0.0:%d" (int .Values.service.adminPort))
  "data_dir" "/var/lib/mediarepo"
  "embedded" false
  "server_names" .Values.serverNames
  "auth" (dict "mode" "whoami")
  "storage" (dict "backend" "s3" "s3" (dict
      "endpoint" .Values.s3.endpoint "bucket" .Values.s3.bucket "region" .Values.s3.region
      "use_tls" .Values.s3.useTLS "access_key_file" $p.s3Access "secret_key_file" $p.s3Secret
      "part_size" .Values.s3.partSize "concurrency" .Values.s3.concurrency))
  "keys" (dict "master_key_dir" $p.masterKeys)
  "content_scanner" (dict "key_file" $p.contentScanner)
  "nats" (dict "url" .Values.nats.url "replicas" .Values.nats.replicas)
  "scan" (dict
      "clamd" (printf "tcp://%s-clamd:%d" $full (int .Values.clamd.port))
      "stream_max_length" .Values.scan.streamMaxLength "workers" 0
      "timeout" .Values.scan.timeout "max_deliver" .Values.scan.maxDeliver
      "max_signature_age" .Values.scan.maxSignatureAge)
-}}
{{- if .Values.secrets.nats.name -}}
{{- $_ := set $cfg.nats "credentials_file" $p.nats -}}
{{- end -}}
{{- if eq .Values.catalog.backend "postgres" -}}
{{- $_ := set $cfg "catalog" (dict "backend" "postgres" "postgres" (dict "dsn_file" $p.postgres)) -}}
{{- else if ne .Values.catalog.backend "kv" -}}
{{- fail (printf "catalog.backend %q: want kv or postgres" .Values.catalog.backend) -}}
{{- end -}}
{{- $over := deepCopy .Values.config -}}
{{- if and .Values.secrets.federationSigningKey.name (dig "federation" "enabled" false $over) -}}
{{- $_ := set $over.federation "signing_key_file" $p.signingKey -}}
{{- end -}}
{{- mergeOverwrite $cfg $over | toYaml -}}
{{- end -}}

{{/* Volumes of mediarepo and scanworker pods: config, secrets, tmpfs. */}}
{{- define "mediarepo.volumes" -}}
- name: config
  configMap:
    name: {{ include "mediarepo.fullname" . }}-config
- name: data
  emptyDir:
    medium: Memory
    sizeLimit: 64Mi
- name: master-keys
  secret:
    secretName: {{ .Values.secrets.masterKeys.name }}
    defaultMode: 0440
- name: content-scanner
  secret:
    secretName: {{ .Values.secrets.contentScanner.name }}
    defaultMode: 0440
    items:
      - {key: {{ .Values.secrets.contentScanner.key | quote }}, path: key}
- name: s3
  secret:
    secretName: {{ .Values.secrets.s3.name }}
    defaultMode: 0440
    items:
      - {key: {{ .Values.secrets.s3.accessKeyKey | quote }}, path: access_key}
      - {key: {{ .Values.secrets.s3.secretKeyKey | quote }}, path: secret_key}
{{- if eq .Values.catalog.backend "postgres" }}
- name: postgres
  secret:
    secretName: {{ .Values.secrets.postgres.name }}
    defaultMode: 0440
    items:
      - {key: {{ .Values.secrets.postgres.key | quote }}, path: dsn}
{{- end }}
{{- if .Values.secrets.nats.name }}
- name: nats
  secret:
    secretName: {{ .Values.secrets.nats.name }}
    defaultMode: 0440
    items:
      - {key: {{ .Values.secrets.nats.key | quote }}, path: nats.creds}
{{- end }}
{{- if .Values.secrets.federationSigningKey.name }}
- name: federation
  secret:
    secretName: {{ .Values.secrets.federationSigningKey.name }}
    defaultMode: 0440
    items:
      - {key: {{ .Values.secrets.federationSigningKey.key | quote }}, path: signing.key}
{{- end }}
{{- end -}}

{{/* Mounts matching mediarepo.volumes. */}}
{{- define "mediarepo.volumeMounts" -}}
- {name: config, mountPath: /etc/mediarepo, readOnly: true}
- {name: data, mountPath: /var/lib/mediarepo}
- {name: master-keys, mountPath: /run/secrets/master-keys, readOnly: true}
- {name: content-scanner, mountPath: /run/secrets/content-scanner, readOnly: true}
- {name: s3, mountPath: /run/secrets/s3, readOnly: true}
{{- if eq .Values.catalog.backend "postgres" }}
- {name: postgres, mountPath: /run/secrets/postgres, readOnly: true}
{{- end }}
{{- if .Values.secrets.nats.name }}
- {name: nats, mountPath: /run/secrets/nats, readOnly: true}
{{- end }}
{{- if .Values.secrets.federationSigningKey.name }}
- {name: federation, mountPath: /run/secrets/federation, readOnly: true}
{{- end }}
{{- end -}}

{{/* Liveness and readiness on the admin listener. */}}
{{- define "mediarepo.probes" -}}
livenessProbe:
  httpGet: {path: /healthz, port: admin}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: admin}
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 3
startupProbe:
  httpGet: {path: /healthz, port: admin}
  periodSeconds: 2
  failureThreshold: 30
{{- end -}}

{{/* What each service is and needs: its port and the infrastructure it talks to. */}}
{{- define "recplatform.catalog" -}}
users: { port: 8081, postgres: true, redis: false, kafka: true }
products: { port: 8082, postgres: true, redis: false, kafka: true }
recommender: { port: 8083, postgres: true, redis: true, kafka: true }
analytics: { port: 8084, postgres: true, redis: true, kafka: true }
console: { port: 8085, postgres: false, redis: false, kafka: false }
{{- end }}

{{/* <release>-<service> */}}
{{- define "recplatform.name" -}}
{{- printf "%s-%s" .root.Release.Name .name | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{- define "recplatform.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/part-of: recplatform
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{- define "recplatform.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{/* The image of a service: a digest when given, else the tag (never latest). */}}
{{- define "recplatform.image" -}}
{{- $image := .root.Values.image -}}
{{- if $image.digest -}}
{{- printf "%s/%s@%s" $image.registry .name $image.digest -}}
{{- else -}}
{{- if or (not $image.tag) (eq (toString $image.tag) "latest") -}}
{{- fail "image.tag must name a release (latest is refused), or set image.digest" -}}
{{- end -}}
{{- printf "%s/%s:%s" $image.registry .name (toString $image.tag) -}}
{{- end -}}
{{- end }}

{{/* Kafka's bootstrap servers. */}}
{{- define "recplatform.kafkaBrokers" -}}
{{- if .Values.kafka.strimzi.cluster.enabled -}}
{{- printf "%s-kafka-bootstrap:9092" .Values.kafka.strimzi.clusterName -}}
{{- else -}}
{{- required "kafka.bootstrapServers is required without the Strimzi cluster" .Values.kafka.bootstrapServers -}}
{{- end -}}
{{- end }}

{{/* The CloudNativePG cluster of a service. */}}
{{- define "recplatform.dbCluster" -}}
{{- printf "%s-%s-db" .root.Release.Name .name | trunc 50 | trimSuffix "-" -}}
{{- end }}

{{/* A secret reference. */}}
{{- define "recplatform.secretRef" -}}
valueFrom:
  secretKeyRef:
    name: {{ .secret }}
    key: {{ .key }}
{{- end }}

{{/* The APP_* variables of a service: infrastructure addresses and secrets by reference. */}}
{{- define "recplatform.env" -}}
{{- $root := .root -}}
{{- $name := .name -}}
{{- $needs := .needs -}}
{{- $secret := required "secrets.existingSecret must name a Secret (the chart holds no secret values)" $root.Values.secrets.existingSecret -}}
- name: APP_ENVIRONMENT
  value: production
- name: APP_APPLICATION__PORT
  value: {{ $needs.port | quote }}
{{- if $needs.postgres }}
{{- if $root.Values.postgres.cnpg.enabled }}
- name: APP_DATABASE__HOST
  value: {{ printf "%s-rw" (include "recplatform.dbCluster" .) | quote }}
- name: APP_DATABASE__PORT
  value: "5432"
- name: APP_DATABASE__USERNAME
  {{- include "recplatform.secretRef" (dict "secret" (printf "%s-app" (include "recplatform.dbCluster" .)) "key" "username") | nindent 2 }}
- name: APP_DATABASE__PASSWORD
  {{- include "recplatform.secretRef" (dict "secret" (printf "%s-app" (include "recplatform.dbCluster" .)) "key" "password") | nindent 2 }}
{{- else }}
- name: APP_DATABASE__HOST
  value: {{ required "postgres.external.host is required without CloudNativePG" $root.Values.postgres.external.host | quote }}
- name: APP_DATABASE__PORT
  value: {{ $root.Values.postgres.external.port | quote }}
- name: APP_DATABASE__USERNAME
  value: {{ $name | quote }}
- name: APP_DATABASE__PASSWORD
  {{- include "recplatform.secretRef" (dict "secret" $secret "key" (printf "%s-db-password" $name)) | nindent 2 }}
{{- end }}
- name: APP_DATABASE__DATABASE_NAME
  value: {{ $name | quote }}
{{- end }}
{{- if $needs.kafka }}
- name: APP_KAFKA__BROKERS
  value: {{ include "recplatform.kafkaBrokers" $root | quote }}
- name: APP_KAFKA__TOPIC_PREFIX
  value: {{ $root.Values.kafka.topicPrefix | quote }}
- name: APP_KAFKA__PARTITIONS
  value: {{ $root.Values.kafka.partitions | quote }}
- name: APP_KAFKA__REPLICATION_FACTOR
  value: {{ $root.Values.kafka.replicationFactor | quote }}
- name: APP_KAFKA__CONSUMER_GROUP
  value: {{ printf "%s%s" $root.Values.kafka.topicPrefix $name | quote }}
# A stable member id per pod: a restarted consumer takes its partitions back at once.
- name: APP_KAFKA__GROUP_INSTANCE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
{{- if ne $name "console" }}
- name: APP_AUTH__VERIFICATION_KEYS
  {{- include "recplatform.secretRef" (dict "secret" $secret "key" "token-verification-keys") | nindent 2 }}
- name: REDIS_PASSWORD
  {{- include "recplatform.secretRef" (dict "secret" $secret "key" "redis-password") | nindent 2 }}
- name: APP_REDIS__URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s:%v" $root.Values.redis.host $root.Values.redis.port | quote }}
- name: APP_REDIS__KEY_PREFIX
  value: {{ printf "%s:" $name | quote }}
{{- end }}
{{- if eq $name "users" }}
- name: APP_AUTH__SIGNING_KEYS
  {{- include "recplatform.secretRef" (dict "secret" $secret "key" "token-signing-keys") | nindent 2 }}
- name: APP_AUTH__INGEST_KEYS
  {{- include "recplatform.secretRef" (dict "secret" $secret "key" "ingest-keys") | nindent 2 }}
- name: APP_ADMIN__EMAIL
  value: {{ $root.Values.admin.email | quote }}
- name: APP_ADMIN__PASSWORD
  {{- include "recplatform.secretRef" (dict "secret" $secret "key" "admin-password") | nindent 2 }}
{{- end }}
{{- if or (eq $name "recommender") (eq $name "analytics") }}
- name: APP_AUTH__READ_KEYS
  {{- include "recplatform.secretRef" (dict "secret" $secret "key" "read-keys") | nindent 2 }}
{{- end }}
{{- if eq $name "console" }}
{{- range $other := list "users" "products" "recommender" "analytics" }}
- name: {{ printf "APP_CONSOLE__%s_URL" (upper $other) }}
  value: {{ printf "http://%s:%v" (include "recplatform.name" (dict "root" $root "name" $other)) (get (get (include "recplatform.catalog" $root | fromYaml) $other) "port") | quote }}
{{- end }}
- name: APP_CONSOLE__PROMETHEUS_URL
  value: {{ $root.Values.services.console.prometheusUrl | quote }}
{{- if $root.Values.services.console.ingestKey }}
- name: APP_CONSOLE__INGEST_KEY
  {{- include "recplatform.secretRef" (dict "secret" $secret "key" "console-ingest-key") | nindent 2 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Names, labels and the values several templates share. */}}

{{- define "ca.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ca.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Object names of the components (kept short enough for Service names). */}}
{{- define "ca.operator" -}}{{ include "ca.fullname" . | trunc 54 | trimSuffix "-" }}-operator{{- end }}
{{- define "ca.gateway" -}}{{ include "ca.fullname" . | trunc 55 | trimSuffix "-" }}-gateway{{- end }}
{{- define "ca.uiSecretName" -}}{{ .Values.ui.secret.existingSecret | default (printf "%s-secret" (include "ca.ui" .)) }}{{- end }}
{{- /* The dashboard's settings, for every pod serving it (gateway and UI): the form-signing
key and, with ui.signin.issuerUrl, OpenID Connect sign-in (client secret from a Secret only). */}}
{{- define "ca.uiEnv" -}}
- name: CONFIGURABLE_AGENTS_UI_SECRET
  valueFrom:
    secretKeyRef: {name: {{ include "ca.uiSecretName" . }}, key: {{ .Values.ui.secret.key }}}
{{- with .Values.ui.signin }}
{{- if .issuerUrl }}
{{- if not (and .clientId .externalUrl .clientSecret.existingSecret) }}
{{- fail "ui.signin: issuerUrl needs clientId, externalUrl and clientSecret.existingSecret" }}
{{- end }}
- name: CONFIGURABLE_AGENTS_UI_OIDC_ISSUER_URL
  value: {{ .issuerUrl | quote }}
- name: CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_ID
  value: {{ .clientId | quote }}
- name: CONFIGURABLE_AGENTS_UI_EXTERNAL_URL
  value: {{ .externalUrl | quote }}
- name: CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET
  valueFrom:
    secretKeyRef: {name: {{ .clientSecret.existingSecret }}, key: {{ .clientSecret.key }}}
{{- end }}
{{- end }}
{{- end }}
{{- define "ca.ui" -}}{{ include "ca.fullname" . | trunc 60 | trimSuffix "-" }}-ui{{- end }}
{{- define "ca.postgres" -}}{{ include "ca.fullname" . | trunc 54 | trimSuffix "-" }}-postgres{{- end }}
{{- define "ca.store" -}}{{ include "ca.fullname" . | trunc 57 | trimSuffix "-" }}-store{{- end }}
{{- define "ca.peering" -}}{{ default (include "ca.fullname" .) .Values.operator.peering.name }}{{- end }}

{{- define "ca.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: configurable-agents
{{ include "ca.selectorLabels" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "ca.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ca.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component: pass (dict "ctx" $ "component" "gateway"). */}}
{{- define "ca.componentLabels" -}}
{{ include "ca.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "ca.componentSelector" -}}
{{ include "ca.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- /* REPOSITORY:TAG, and @DIGEST when the image's digest is set (then the digest is what runs). */}}
{{- define "ca.image" -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) }}
{{- with .image.digest }}@{{ . }}{{ end }}
{{- end }}

{{/* The Secret and key the gateway reads the store URL from. */}}
{{- define "ca.storeSecretName" -}}
{{- default (include "ca.store" .) .Values.store.existingSecret }}
{{- end }}
{{- define "ca.storeSecretKey" -}}
{{- if .Values.store.existingSecret }}{{ .Values.store.existingSecretKey }}{{ else }}url{{ end }}
{{- end }}

{{/* Namespaces served: empty for the whole cluster. Fails on settings that cannot work. */}}
{{- define "ca.namespaces" -}}
{{- if eq .Values.rbac.scope "namespaces" }}
{{- if not .Values.rbac.namespaces }}
{{- fail "rbac.namespaces: list at least one namespace when rbac.scope is \"namespaces\"" }}
{{- end }}
{{- toJson .Values.rbac.namespaces }}
{{- else }}[]{{- end }}
{{- end }}

{{/* What the gateway may do in the namespaces it serves: read Workflows, Triggers and
EndpointSlices; write the status of Triggers (lastScheduleTime, active, lastSuccessfulTime). */}}
{{- define "ca.gatewayRules" -}}
rules:
  - apiGroups: [configurable-agents.io]
    resources: [workflows, triggers]
    verbs: [list, watch]
  - apiGroups: [configurable-agents.io]
    resources: [triggers/status]
    verbs: [patch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
  {{- /* Agents outside the cluster: one Lease per registered member (its heartbeat), and the
  AgentPool it joins (spec.external, spec.capabilities), read at each registration. */}}
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [get, list, watch, create, patch, delete]
  - apiGroups: [configurable-agents.io]
    resources: [agentpools]
    verbs: [get]
  {{- /* A webhook Trigger's signing keys: the one Secret its spec names, in its own namespace,
  read when a delivery is verified. get only: the gateway cannot list or watch Secrets. */}}
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get]
{{- end }}

{{- define "ca.checks" -}}
{{- if and (not .Values.store.existingSecret) (not .Values.store.url) (not .Values.postgres.enabled) }}
{{- fail "store: set store.url or store.existingSecret, or postgres.enabled=true to try the chart out" }}
{{- end }}
{{- end }}

{{- define "ca.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end }}
{{- define "ca.securityContext" -}}
{{ toYaml .Values.securityContext }}
{{- end }}

{{/* NetworkPolicy egress rules shared by the components. */}}
{{- define "ca.dnsEgress" -}}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- end }}
{{- define "ca.apiServerEgress" -}}
- ports:
    {{- range .Values.networkPolicy.apiServerPorts }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
{{- end }}

{{- /* Where the gateway reads the token it sends agents with each task (agents.taskAuth). */}}
{{- define "ca.taskTokenDir" -}}/var/run/secrets/configurable-agents/task{{- end }}

{{- /* The operator's settings for who may reach agent pods: the gateway's tokens
(agents.taskAuth) and, with networkPolicy, a NetworkPolicy per AgentPool open to the gateway pods
and networkPolicy.agentsFrom. */}}
{{- define "ca.operatorAgentIngressEnv" -}}
{{- if .Values.agents.taskAuth.enabled }}
- name: CONFIGURABLE_AGENTS_OPERATOR_TASK_CALLERS
  value: {{ printf "system:serviceaccount:%s:%s" .Release.Namespace (include "ca.gateway" .) | quote }}
- name: CONFIGURABLE_AGENTS_OPERATOR_TASK_ISSUER
  value: {{ .Values.agents.taskAuth.issuer | quote }}
{{- end }}
{{- if .Values.networkPolicy.enabled }}
- name: CONFIGURABLE_AGENTS_OPERATOR_GATEWAY_NAMESPACE
  value: {{ .Release.Namespace | quote }}
- name: CONFIGURABLE_AGENTS_OPERATOR_GATEWAY_POD_LABELS
  value: {{ include "ca.componentSelector" (dict "ctx" . "component" "gateway") | fromYaml | toJson | quote }}
- name: CONFIGURABLE_AGENTS_OPERATOR_AGENTS_FROM
  value: {{ .Values.networkPolicy.agentsFrom | toJson | quote }}
{{- end }}
{{- end }}

{{- /* The operator's settings for where agent pods may connect (agents.egress): a NetworkPolicy
<pool>-egress per AgentPool, unless egress or all NetworkPolicies are off. */}}
{{- define "ca.operatorAgentEgressEnv" -}}
{{- $egress := .Values.agents.egress }}
{{- $enforce := and .Values.networkPolicy.enabled $egress.enforce }}
- name: CONFIGURABLE_AGENTS_OPERATOR_EGRESS_ENFORCE
  value: {{ ternary "true" "false" $enforce | quote }}
{{- if $enforce }}
- name: CONFIGURABLE_AGENTS_OPERATOR_EGRESS_DNS
  value: {{ $egress.dns | toJson | quote }}
- name: CONFIGURABLE_AGENTS_OPERATOR_EGRESS_ALLOW
  value: {{ $egress.platformAllow | toJson | quote }}
- name: CONFIGURABLE_AGENTS_OPERATOR_EGRESS_RULES
  value: {{ $egress.platformRules | toJson | quote }}
{{- end }}
{{- end }}

{{- /* serve's authentication flags from gateway.auth (see values.yaml). */}}
{{- define "ca.gatewayAuthArgs" -}}
{{- $auth := .Values.gateway.auth }}
{{- if $auth.insecureNoAuth }}
- --insecure-no-auth
{{- else }}
- {{ printf "--auth=%s" $auth.mode | quote }}
{{- range $auth.audiences }}
- {{ printf "--auth-audience=%s" . | quote }}
{{- end }}
{{- if contains "oidc" $auth.mode }}
{{- if not (and $auth.oidc.issuerUrl $auth.oidc.audience) }}
{{- fail "gateway.auth.oidc: mode oidc needs issuerUrl and audience" }}
{{- end }}
- {{ printf "--oidc-issuer-url=%s" $auth.oidc.issuerUrl | quote }}
- {{ printf "--oidc-audience=%s" $auth.oidc.audience | quote }}
- {{ printf "--oidc-username-claim=%s" $auth.oidc.usernameClaim | quote }}
{{- with $auth.oidc.usernamePrefix }}
- {{ printf "--oidc-username-prefix=%s" . | quote }}
{{- end }}
- {{ printf "--oidc-groups-claim=%s" $auth.oidc.groupsClaim | quote }}
{{- with $auth.oidc.groupsPrefix }}
- {{ printf "--oidc-groups-prefix=%s" . | quote }}
{{- end }}
{{- if $auth.oidc.caConfigMap }}
- --oidc-ca-file=/etc/configurable-agents/oidc/ca.crt
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- /* The AgentPool admission policy (policy.agentPools): the ValidatingAdmissionPolicy, its
binding and, unless the platform team names its own, the parameter ConfigMap share this name. */}}
{{- define "ca.agentPoolPolicy" -}}{{ include "ca.fullname" . | trunc 46 | trimSuffix "-" }}-agentpool-policy{{- end }}
{{- define "ca.agentPoolPolicyParams" -}}{{ .Values.policy.agentPools.existingConfigMap | default (include "ca.agentPoolPolicy" .) }}{{- end }}

{{- /* The platform tool policy (policy.tools): a ConfigMap mounted into the operator and the
gateway, named by CONFIGURABLE_AGENTS_POLICY_FILE. The namespace budgets (policy.budgets) are its
budgets: key, read by the gateway only, and there only when some namespace has a budget. */}}
{{- define "ca.toolPolicy" -}}{{ include "ca.fullname" . | trunc 51 | trimSuffix "-" }}-tool-policy{{- end }}
{{- define "ca.toolPolicyDir" -}}/etc/configurable-agents/policy{{- end }}
{{- define "ca.toolPolicyFile" -}}
preset: cluster
allowedFunctions: {{ .Values.policy.tools.allowedFunctions | toJson }}
egressAllow: {{ .Values.policy.tools.egressAllow | toJson }}
allowLoopback: {{ .Values.policy.tools.allowLoopback }}
allowPrivate: {{ .Values.policy.tools.allowPrivate }}
{{- with .Values.policy.budgets }}
{{- if .namespaces }}
{{- range $name, $budget := .namespaces }}
{{- if and (not $.Values.policy.budgets.prices) (or (ne (toString (dig "costPerDay" "<nil>" $budget)) "<nil>") (ne (toString (dig "costPerMonth" "<nil>" $budget)) "<nil>")) }}
{{- fail (printf "policy.budgets.namespaces.%s: a cost limit needs policy.budgets.prices (empty, so every call would cost 0)" $name) }}
{{- end }}
{{- end }}
budgets: {{ dict "onExceeded" .onExceeded "prices" .prices "namespaces" .namespaces | toJson }}
{{- end }}
{{- end }}
{{- end }}
{{- define "ca.toolPolicyEnv" -}}
- name: CONFIGURABLE_AGENTS_POLICY_FILE
  value: {{ include "ca.toolPolicyDir" . }}/policy.yaml
{{- end }}
{{- define "ca.toolPolicyMount" -}}
- {name: tool-policy, mountPath: {{ include "ca.toolPolicyDir" . }}, readOnly: true}
{{- end }}
{{- define "ca.toolPolicyVolume" -}}
- {name: tool-policy, configMap: {name: {{ include "ca.toolPolicy" . }}}}
{{- end }}

package deploycheck

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// mediaPrefixes are the paths the ingress routes to mediarepo: exactly
// these, nothing more (the homeserver keeps the rest) and nothing less.
var mediaPrefixes = []string{
	"/_matrix/media", "/_matrix/client/v1/media", "/_matrix/federation/v1/media", "/_matrix/media_proxy",
}

const componentLabel = "app.kubernetes.io/component"

// chartObjects sorts rendered objects by kind.
type chartObjects struct {
	deployments     map[string]*appsv1.Deployment // by component label
	services        []*corev1.Service
	configMaps      []*corev1.ConfigMap
	serviceAccounts []*corev1.ServiceAccount
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	pdbs            []*policyv1.PodDisruptionBudget
	policies        []*networkingv1.NetworkPolicy
	ingresses       []*networkingv1.Ingress
	monitors        []*monitoringv1.ServiceMonitor
	secrets         []*corev1.Secret
}

func sortObjects(objs []runtime.Object) (chartObjects, []string) {
	c := chartObjects{deployments: map[string]*appsv1.Deployment{}}
	var probs []string
	for _, o := range objs {
		switch v := o.(type) {
		case *appsv1.Deployment:
			c.deployments[v.Labels[componentLabel]] = v
		case *corev1.Service:
			c.services = append(c.services, v)
		case *corev1.ConfigMap:
			c.configMaps = append(c.configMaps, v)
		case *corev1.ServiceAccount:
			c.serviceAccounts = append(c.serviceAccounts, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			c.hpas = append(c.hpas, v)
		case *policyv1.PodDisruptionBudget:
			c.pdbs = append(c.pdbs, v)
		case *networkingv1.NetworkPolicy:
			c.policies = append(c.policies, v)
		case *networkingv1.Ingress:
			c.ingresses = append(c.ingresses, v)
		case *monitoringv1.ServiceMonitor:
			c.monitors = append(c.monitors, v)
		case *corev1.Secret:
			c.secrets = append(c.secrets, v)
		default:
			probs = append(probs, fmt.Sprintf("unexpected object %T", o))
		}
	}
	return c, probs
}

// adminPeers are the peers allowed on the admin port besides pods of the
// release's namespace: the Prometheus selectors of the values, if any.
type adminPeers struct {
	namespaceSelector, podSelector *metav1.LabelSelector
}

// chartProblems lists what breaks the deployment rules in the rendered
// chart: hardening of every pod, secrets only from existing Secrets,
// probes, autoscaling and disruption budget, the routing of exactly the
// four media prefixes, and the network policies of both ports.
func chartProblems(objs []runtime.Object, publicPort, adminPort int32, prom adminPeers) []string {
	c, probs := sortObjects(objs)
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	for _, s := range c.secrets {
		bad("Secret %s: the chart must create no Secret; secrets come from existing ones named in values", s.Name)
	}
	for _, sa := range c.serviceAccounts {
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			bad("ServiceAccount %s: automountServiceAccountToken must be false", sa.Name)
		}
	}
	for _, comp := range []string{"mediarepo", "scanworker", "clamd"} {
		d, ok := c.deployments[comp]
		if !ok {
			bad("Deployment of %s: missing", comp)
			continue
		}
		probs = append(probs, podProblems(d.Name, d.Spec.Template.Spec)...)
	}
	for _, comp := range []string{"mediarepo", "scanworker"} {
		if d, ok := c.deployments[comp]; ok {
			probs = append(probs, probeProblems(d, adminPort)...)
		}
	}
	if d, ok := c.deployments["clamd"]; ok {
		if !slices.ContainsFunc(d.Spec.Template.Spec.Containers, func(ct corev1.Container) bool { return ct.Name == "freshclam" }) {
			bad("Deployment %s: no freshclam sidecar", d.Name)
		}
	}
	if d, ok := c.deployments["mediarepo"]; ok {
		probs = append(probs, scalingProblems(c, d)...)
		probs = append(probs, policyProblems(c.policies, d, publicPort, adminPort, prom)...)
		probs = append(probs, ingressProblems(c, d, publicPort, adminPort)...)
	}
	if d, ok := c.deployments["scanworker"]; ok {
		probs = append(probs, policyProblems(c.policies, d, 0, adminPort, prom)...)
	}
	for _, m := range c.monitors {
		for _, ep := range m.Spec.Endpoints {
			if ep.Port != "admin" || ep.Path != "/metrics" {
				bad("ServiceMonitor %s: endpoint must scrape /metrics on port admin", m.Name)
			}
		}
	}
	return probs
}

// podProblems checks the hardening of one pod template.
func podProblems(name string, pod corev1.PodSpec) []string {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(name+": "+format, args...)) }
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		bad("automountServiceAccountToken must be false")
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		bad("must not share the host's network, PID or IPC namespace")
	}
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	for _, ct := range slices.Concat(pod.InitContainers, pod.Containers) {
		sc := ct.SecurityContext
		if sc == nil {
			bad("container %s: no securityContext", ct.Name)
			continue
		}
		nonRoot := sc.RunAsNonRoot != nil && *sc.RunAsNonRoot || sc.RunAsNonRoot == nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
		if !nonRoot {
			bad("container %s: runAsNonRoot must be true", ct.Name)
		}
		uid := sc.RunAsUser
		if uid == nil {
			uid = psc.RunAsUser
		}
		if uid != nil && *uid == 0 {
			bad("container %s: runs as UID 0", ct.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			bad("container %s: readOnlyRootFilesystem must be true", ct.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			bad("container %s: allowPrivilegeEscalation must be false", ct.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			bad("container %s: privileged", ct.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			bad("container %s: capabilities must drop ALL and add none", ct.Name)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			bad("container %s: seccompProfile must be RuntimeDefault", ct.Name)
		}
		for _, e := range ct.Env {
			if secretName.MatchString(e.Name) && e.Value != "" {
				bad("container %s: environment %s carries a value; secrets come from mounted Secrets", ct.Name, e.Name)
			}
		}
	}
	return probs
}

// probeProblems: liveness on /healthz and readiness on /readyz, both on
// the admin port.
func probeProblems(d *appsv1.Deployment, adminPort int32) []string {
	var probs []string
	for _, ct := range d.Spec.Template.Spec.Containers {
		adminName := ""
		for _, p := range ct.Ports {
			if p.ContainerPort == adminPort {
				adminName = p.Name
			}
		}
		check := func(kind string, p *corev1.Probe, path string) {
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || !portIs(p.HTTPGet.Port, adminPort, adminName) {
				probs = append(probs, fmt.Sprintf("%s: container %s: %s probe must GET %s on the admin port %d", d.Name, ct.Name, kind, path, adminPort))
			}
		}
		check("liveness", ct.LivenessProbe, "/healthz")
		check("readiness", ct.ReadinessProbe, "/readyz")
	}
	return probs
}

func portIs(p intstr.IntOrString, number int32, name string) bool {
	if p.Type == intstr.Int {
		return p.IntVal == number
	}
	return name != "" && p.StrVal == name
}

// scalingProblems: an HPA and a PDB aimed at the mediarepo Deployment.
func scalingProblems(c chartObjects, d *appsv1.Deployment) []string {
	var probs []string
	if !slices.ContainsFunc(c.hpas, func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
		return h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == d.Name && h.Spec.MaxReplicas >= 2
	}) {
		probs = append(probs, fmt.Sprintf("no HorizontalPodAutoscaler scales Deployment %s", d.Name))
	}
	if !slices.ContainsFunc(c.pdbs, func(p *policyv1.PodDisruptionBudget) bool {
		return p.Spec.Selector != nil && selects(p.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}) {
		probs = append(probs, fmt.Sprintf("no PodDisruptionBudget covers the pods of %s", d.Name))
	}
	return probs
}

// selects reports whether matchLabels (non-empty) select a pod with labels.
func selects(matchLabels, labels map[string]string) bool {
	if len(matchLabels) == 0 {
		return false
	}
	for k, v := range matchLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// policyProblems checks the NetworkPolicies that select d's pods: some
// policy must cover them; the public port (when not 0) only from peers
// limited by a namespace selector (the ingress controller); the admin port
// only from pods of the namespace or the configured Prometheus pods; no
// rule open to every peer or every port.
func policyProblems(policies []*networkingv1.NetworkPolicy, d *appsv1.Deployment, publicPort, adminPort int32, prom adminPeers) []string {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(d.Name+": "+format, args...)) }
	covered := false
	for _, np := range policies {
		if !selects(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) {
			continue
		}
		covered = covered || slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
		for i, rule := range np.Spec.Ingress {
			if len(rule.Ports) == 0 {
				bad("NetworkPolicy %s rule %d allows every port", np.Name, i)
			}
			if len(rule.From) == 0 {
				bad("NetworkPolicy %s rule %d allows every peer", np.Name, i)
			}
			for _, p := range rule.Ports {
				switch {
				case p.Port != nil && portIs(*p.Port, adminPort, "admin"):
					for _, peer := range rule.From {
						if !sameNamespacePeer(peer) && !prom.matches(peer) {
							bad("NetworkPolicy %s: the admin port is open to a peer outside the namespace (%v)", np.Name, peerString(peer))
						}
					}
				case publicPort != 0 && p.Port != nil && portIs(*p.Port, publicPort, "http"):
					for _, peer := range rule.From {
						if peer.NamespaceSelector == nil || len(peer.NamespaceSelector.MatchLabels)+len(peer.NamespaceSelector.MatchExpressions) == 0 {
							bad("NetworkPolicy %s: the public port is open beyond the ingress controller's namespace (%v)", np.Name, peerString(peer))
						}
					}
				default:
					bad("NetworkPolicy %s: port %v is neither the public nor the admin port", np.Name, p.Port)
				}
			}
		}
	}
	if !covered {
		bad("no NetworkPolicy of type Ingress selects its pods")
	}
	return probs
}

// sameNamespacePeer: a pod selector alone means pods of the policy's own
// namespace.
func sameNamespacePeer(p networkingv1.NetworkPolicyPeer) bool {
	return p.PodSelector != nil && p.NamespaceSelector == nil && p.IPBlock == nil
}

func (a adminPeers) matches(p networkingv1.NetworkPolicyPeer) bool {
	if a.namespaceSelector == nil || p.NamespaceSelector == nil || p.PodSelector == nil || p.IPBlock != nil {
		return false
	}
	if len(p.PodSelector.MatchLabels)+len(p.PodSelector.MatchExpressions) == 0 {
		return false // every pod of those namespaces
	}
	return reflect.DeepEqual(*a.namespaceSelector, *p.NamespaceSelector) && reflect.DeepEqual(*a.podSelector, *p.PodSelector)
}

func peerString(p networkingv1.NetworkPolicyPeer) string {
	var parts []string
	if p.NamespaceSelector != nil {
		parts = append(parts, "namespaces "+metav1.FormatLabelSelector(p.NamespaceSelector))
	}
	if p.PodSelector != nil {
		parts = append(parts, "pods "+metav1.FormatLabelSelector(p.PodSelector))
	}
	if p.IPBlock != nil {
		parts = append(parts, "ipBlock "+p.IPBlock.CIDR)
	}
	return strings.Join(parts, ", ")
}

// ingressProblems: every Ingress rule routes exactly the four media
// prefixes (pathType Prefix) to mediarepo's public port.
func ingressProblems(c chartObjects, d *appsv1.Deployment, publicPort, adminPort int32) []string {
	var probs []string
	svc := ""
	for _, s := range c.services {
		if selects(s.Spec.Selector, d.Spec.Template.Labels) && s.Spec.ClusterIP != corev1.ClusterIPNone {
			svc = s.Name
		}
	}
	for _, ing := range c.ingresses {
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				probs = append(probs, fmt.Sprintf("Ingress %s host %s: no paths", ing.Name, rule.Host))
				continue
			}
			var paths []string
			for _, p := range rule.HTTP.Paths {
				paths = append(paths, p.Path)
				if p.PathType == nil || *p.PathType != networkingv1.PathTypePrefix {
					probs = append(probs, fmt.Sprintf("Ingress %s path %s: pathType must be Prefix", ing.Name, p.Path))
				}
				b := p.Backend.Service
				if b == nil || b.Name != svc || !(b.Port.Name == "http" || b.Port.Number == publicPort) || b.Port.Number == adminPort {
					probs = append(probs, fmt.Sprintf("Ingress %s path %s: backend must be service %s, port http", ing.Name, p.Path, svc))
				}
			}
			slices.Sort(paths)
			want := slices.Sorted(slices.Values(mediaPrefixes))
			if !slices.Equal(paths, want) {
				probs = append(probs, fmt.Sprintf("Ingress %s host %s routes %v, want exactly %v", ing.Name, rule.Host, paths, want))
			}
		}
	}
	return probs
}

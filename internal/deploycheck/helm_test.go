package deploycheck

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/mediarepo/mediarepo/internal/config"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

var chartDir = filepath.Join(repoRoot, "deploy", "helm", "mediarepo")

// envHelmBin names the Helm v4 binary scripts/testenv builds into the cache.
const envHelmBin = "MEDIAREPO_TEST_HELM_BIN"

// valuesSets are the default values ("") and every example values file.
func valuesSets(t *testing.T) map[string]string {
	t.Helper()
	sets := map[string]string{"default": ""}
	examples, err := filepath.Glob(filepath.Join(chartDir, "examples", "*.yaml"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no example values in %s/examples (%v)", chartDir, err)
	}
	for _, f := range examples {
		sets[strings.TrimSuffix(filepath.Base(f), ".yaml")] = f
	}
	return sets
}

// chartValues is the part of the values the checks compare with.
type chartValues struct {
	Service struct {
		Port      int32 `yaml:"port"`
		AdminPort int32 `yaml:"adminPort"`
	} `yaml:"service"`
	NetworkPolicy struct {
		Prometheus struct {
			NamespaceSelector map[string]any `yaml:"namespaceSelector"`
			PodSelector       map[string]any `yaml:"podSelector"`
		} `yaml:"prometheus"`
	} `yaml:"networkPolicy"`
}

// readValues reads the default values, then the example over them.
func readValues(t *testing.T, example string) chartValues {
	t.Helper()
	var v chartValues
	for _, f := range []string{filepath.Join(chartDir, "values.yaml"), example} {
		if f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return v
}

// promPeers turns the values' Prometheus selectors into label selectors.
func (v chartValues) promPeers(t *testing.T) adminPeers {
	p := v.NetworkPolicy.Prometheus
	if len(p.NamespaceSelector) == 0 {
		return adminPeers{}
	}
	conv := func(m map[string]any) *metav1.LabelSelector {
		b, err := yaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeStrict([]byte("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nspec:\n  podSelector:\n" + indent(string(b), "    ")))
		if err != nil || len(objs) != 1 {
			t.Fatalf("selector %v: %v", m, err)
		}
		return &objs[0].(*networkingv1.NetworkPolicy).Spec.PodSelector
	}
	return adminPeers{namespaceSelector: conv(p.NamespaceSelector), podSelector: conv(p.PodSelector)}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix) + "\n"
}

// renderValues lints and renders the chart with one values set and
// decodes every object strictly.
func renderValues(t *testing.T, values string) []runtime.Object {
	t.Helper()
	helm := testenv.Getenv(t, envHelmBin)
	ctx := context.Background()
	if out, err := lintChart(ctx, helm, chartDir, values); err != nil {
		t.Fatalf("helm lint: %v", err)
	} else if !strings.Contains(string(out), "0 chart(s) failed") {
		t.Fatalf("helm lint: %s", out)
	}
	rendered, err := renderChart(ctx, helm, chartDir, values)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeStrict(rendered)
	if err != nil {
		t.Fatalf("rendered objects do not decode strictly into the Kubernetes API types:\n%v", err)
	}
	return objs
}

func TestHelmChartFollowsTheRules(t *testing.T) {
	for name, values := range valuesSets(t) {
		t.Run(name, func(t *testing.T) {
			objs := renderValues(t, values)
			v := readValues(t, values)
			for _, prob := range chartProblems(objs, v.Service.Port, v.Service.AdminPort, v.promPeers(t)) {
				t.Error(prob)
			}
		})
	}
}

func TestHelmChartConfigLoads(t *testing.T) {
	for name, values := range valuesSets(t) {
		t.Run(name, func(t *testing.T) {
			c, _ := sortObjects(renderValues(t, values))
			for _, comp := range []string{"mediarepo", "scanworker"} {
				cfg := loadChartConfig(t, c, c.deployments[comp])
				if cfg.Embedded || cfg.Auth.Mode != "whoami" || cfg.Storage.Backend != "s3" || cfg.NATS.URL == "" {
					t.Errorf("%s: not the separate-services mode: embedded %v, auth %s, storage %s, nats %q",
						comp, cfg.Embedded, cfg.Auth.Mode, cfg.Storage.Backend, cfg.NATS.URL)
				}
				if _, err := cfg.Catalog.Postgres.DSN(); cfg.Catalog.Backend != "postgres" || err != nil {
					t.Errorf("%s: catalog backend %q, DSN file: %v (want PostgreSQL with its DSN mounted)", comp, cfg.Catalog.Backend, err)
				}
				if (comp == "scanworker") != (cfg.Scan.Workers > 0) {
					t.Errorf("%s: scan.workers %d", comp, cfg.Scan.Workers)
				}
				checkChartClamd(t, c, cfg)
			}
		})
	}
}

// loadChartConfig runs config.Load on the mediarepo.yaml that d mounts,
// with d's environment, after writing stand-ins of every mounted Secret
// under a temporary root (the files make-secrets makes, where they exist).
func loadChartConfig(t *testing.T, c chartObjects, d *appsv1.Deployment) config.Config {
	t.Helper()
	if d == nil {
		t.Fatal("Deployment missing")
	}
	pod := d.Spec.Template.Spec
	ct := pod.Containers[0]
	if strings.Join(ct.Args, " ") != "-config /etc/mediarepo/mediarepo.yaml" {
		t.Fatalf("%s: args %v", d.Name, ct.Args)
	}
	made := makeSecrets(t)
	standIn := map[string]string{ // mount file → make-secrets file or content
		"access_key": "s3_access_key", "secret_key": "s3_secret_key", "key": "content_scanner.key",
		"dsn":        "=postgres://mediarepo@postgres.example/mediarepo?sslmode=verify-full",
		"nats.creds": "=-----BEGIN NATS USER JWT-----\n", "signing.key": "=ed25519 a_test AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
	}
	root := t.TempDir()
	var yamlText string
	for _, m := range ct.VolumeMounts {
		var vol *corev1.Volume
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == m.Name {
				vol = &pod.Volumes[i]
			}
		}
		if vol == nil {
			t.Fatalf("%s: mount %s has no volume", d.Name, m.Name)
		}
		switch {
		case vol.ConfigMap != nil && m.MountPath == "/etc/mediarepo":
			for _, cm := range c.configMaps {
				if cm.Name == vol.ConfigMap.Name {
					yamlText = cm.Data["mediarepo.yaml"]
				}
			}
		case vol.Secret != nil && len(vol.Secret.Items) == 0: // the master keys: every key a file
			writeFile(t, filepath.Join(root, m.MountPath, "primary.key"), readFile(t, filepath.Join(made, "master.key")))
		case vol.Secret != nil:
			for _, it := range vol.Secret.Items {
				src, ok := standIn[it.Path]
				if !ok {
					t.Fatalf("%s: no stand-in for secret file %s", d.Name, it.Path)
				}
				data := strings.TrimPrefix(src, "=")
				if data == src {
					data = readFile(t, filepath.Join(made, src))
				}
				writeFile(t, filepath.Join(root, m.MountPath, it.Path), data)
			}
		}
	}
	if yamlText == "" {
		t.Fatalf("%s: no mediarepo.yaml mounted at /etc/mediarepo", d.Name)
	}
	cfgPath := filepath.Join(t.TempDir(), "mediarepo.yaml")
	writeFile(t, cfgPath, strings.ReplaceAll(yamlText, "/run/secrets/", root+"/run/secrets/"))
	env := func(name string) string {
		for _, e := range ct.Env {
			if e.Name == name {
				return e.Value
			}
		}
		return ""
	}
	cfg, err := config.Load(cfgPath, env)
	if err != nil {
		t.Fatalf("%s: config.Load of the rendered mediarepo.yaml: %v\n%s", d.Name, err, yamlText)
	}
	return cfg
}

// checkChartClamd: scan.clamd names the clamd Service, and clamd's
// StreamMaxLength covers mediarepo's.
func checkChartClamd(t *testing.T, c chartObjects, cfg config.Config) {
	t.Helper()
	var conf, svc string
	for _, cm := range c.configMaps {
		if s, ok := cm.Data["clamd.conf"]; ok {
			conf = s
		}
	}
	for _, s := range c.services {
		if s.Labels[componentLabel] == "clamd" && len(s.Spec.Ports) == 1 {
			svc = "tcp://" + s.Name + ":" + strconv.Itoa(int(s.Spec.Ports[0].Port))
		}
	}
	if cfg.Scan.Clamd != svc {
		t.Errorf("scan.clamd %q, but the clamd Service is %q", cfg.Scan.Clamd, svc)
	}
	f := filepath.Join(t.TempDir(), "clamd.conf")
	writeFile(t, f, conf)
	streamMax, err := config.ParseByteSize(confValue(t, f, "StreamMaxLength"))
	if err != nil {
		t.Fatal(err)
	}
	if int64(streamMax) < int64(cfg.Scan.StreamMaxLength) || int64(streamMax) < int64(cfg.Media.MaxUploadSize) {
		t.Errorf("clamd StreamMaxLength %d < stream_max_length %d or max_upload_size %d", streamMax, cfg.Scan.StreamMaxLength, cfg.Media.MaxUploadSize)
	}
	for _, key := range []string{"AlertExceedsMax", "AlertEncrypted"} {
		if v := confValue(t, f, key); v != "yes" {
			t.Errorf("clamd.conf: %s %s, want yes", key, v)
		}
	}
	d := c.deployments["clamd"]
	tmp := confValue(t, f, "TemporaryDirectory")
	onTmpfs := false
	for _, ct := range d.Spec.Template.Spec.Containers {
		for _, m := range ct.VolumeMounts {
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name == m.Name && m.MountPath == tmp && v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumMemory {
					onTmpfs = true
				}
			}
		}
	}
	if !onTmpfs {
		t.Errorf("clamd's TemporaryDirectory %s is not a memory-backed emptyDir", tmp)
	}
}

func readFile(t *testing.T, f string) string {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, f, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A wrong field name, a wrong value type and an unknown kind fail the
// strict decoding, as they would fail (or be silently dropped by) the API
// server.
func TestStrictDecodingRefusesWrongObjects(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 2\n",
		"nested field":  "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n    - name: c\n      image: i\n      securityContext: {readOnlyRootFileSystem: true}\n",
		"wrong type":    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: two\n",
		"duplicate":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nmetadata: {name: y}\n",
		"unknown kind":  "apiVersion: example.org/v1\nkind: Widget\nmetadata: {name: x}\n",
	} {
		if _, err := decodeStrict([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	if objs, err := decodeStrict([]byte("# Source: x\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n# only a comment\n")); err != nil || len(objs) != 1 {
		t.Errorf("a valid document: %d objects, %v", len(objs), err)
	}
}

// chartProblems finds each kind of breakage in an otherwise good chart.
func TestChartProblemsReportsBreakage(t *testing.T) {
	values := filepath.Join(chartDir, "examples", "bundesmessenger.yaml")
	v := readValues(t, values)
	rendered := renderValues(t, values)
	for name, tc := range map[string]struct {
		breakIt func(c chartObjects) []runtime.Object
		want    string
	}{
		"writable root filesystem": {func(c chartObjects) []runtime.Object {
			c.deployments["mediarepo"].Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = ptr(false)
			return nil
		}, "readOnlyRootFilesystem must be true"},
		"root clamd": {func(c chartObjects) []runtime.Object {
			pod := &c.deployments["clamd"].Spec.Template.Spec
			pod.SecurityContext.RunAsNonRoot, pod.SecurityContext.RunAsUser = nil, ptr(int64(0))
			pod.Containers[0].SecurityContext.RunAsNonRoot = nil
			return nil
		}, "runAsNonRoot must be true"},
		"capability added": {func(c chartObjects) []runtime.Object {
			c.deployments["scanworker"].Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
			return nil
		}, "capabilities must drop ALL"},
		"no seccomp": {func(c chartObjects) []runtime.Object {
			pod := &c.deployments["scanworker"].Spec.Template.Spec
			pod.SecurityContext.SeccompProfile = nil
			pod.Containers[0].SecurityContext.SeccompProfile = nil
			return nil
		}, "seccompProfile must be RuntimeDefault"},
		"token mounted": {func(c chartObjects) []runtime.Object {
			c.deployments["mediarepo"].Spec.Template.Spec.AutomountServiceAccountToken = ptr(true)
			return nil
		}, "automountServiceAccountToken must be false"},
		"secret in env": {func(c chartObjects) []runtime.Object {
			ct := &c.deployments["scanworker"].Spec.Template.Spec.Containers[0]
			ct.Env = append(ct.Env, corev1.EnvVar{Name: "S3_SECRET_KEY", Value: "hunter2"})
			return nil
		}, "environment S3_SECRET_KEY carries a value"},
		"chart creates a Secret": {func(c chartObjects) []runtime.Object {
			return []runtime.Object{&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "keys"}}}
		}, "the chart must create no Secret"},
		"liveness elsewhere": {func(c chartObjects) []runtime.Object {
			c.deployments["mediarepo"].Spec.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Path = "/"
			return nil
		}, "liveness probe must GET /healthz"},
		"no readiness": {func(c chartObjects) []runtime.Object {
			c.deployments["scanworker"].Spec.Template.Spec.Containers[0].ReadinessProbe = nil
			return nil
		}, "readiness probe must GET /readyz"},
		"extra ingress path": {func(c chartObjects) []runtime.Object {
			r := &c.ingresses[0].Spec.Rules[0]
			r.HTTP.Paths = append(r.HTTP.Paths, r.HTTP.Paths[0])
			r.HTTP.Paths[len(r.HTTP.Paths)-1].Path = "/_matrix/client"
			return nil
		}, "want exactly"},
		"ingress to admin": {func(c chartObjects) []runtime.Object {
			c.ingresses[0].Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port = networkingv1.ServiceBackendPort{Name: "admin"}
			return nil
		}, "backend must be service"},
		"admin port open to all namespaces": {func(c chartObjects) []runtime.Object {
			for _, np := range c.policies {
				for i := range np.Spec.Ingress {
					for j := range np.Spec.Ingress[i].From {
						np.Spec.Ingress[i].From[j].NamespaceSelector = &metav1.LabelSelector{}
					}
				}
			}
			return nil
		}, "the admin port is open to a peer outside the namespace"},
		"public port open to all": {func(c chartObjects) []runtime.Object {
			for _, np := range c.policies {
				for i := range np.Spec.Ingress {
					if np.Spec.Ingress[i].Ports[0].Port.StrVal == "http" {
						np.Spec.Ingress[i].From = nil
					}
				}
			}
			return nil
		}, "allows every peer"},
		"no hpa": {func(c chartObjects) []runtime.Object {
			c.hpas[0].Spec.ScaleTargetRef.Name = "other"
			return nil
		}, "no HorizontalPodAutoscaler"},
		"no pdb": {func(c chartObjects) []runtime.Object {
			c.pdbs[0].Spec.Selector.MatchLabels = map[string]string{"app": "other"}
			return nil
		}, "no PodDisruptionBudget"},
	} {
		t.Run(name, func(t *testing.T) {
			var objs []runtime.Object
			for _, o := range rendered {
				objs = append(objs, o.DeepCopyObject())
			}
			c, _ := sortObjects(objs)
			objs = append(objs, tc.breakIt(c)...)
			probs := strings.Join(chartProblems(objs, v.Service.Port, v.Service.AdminPort, v.promPeers(t)), "\n")
			if !strings.Contains(probs, tc.want) {
				t.Errorf("problems lack %q; have:\n%s", tc.want, probs)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// values.yaml is documented line by line: every key has a comment on the
// line above it (or is a list item's first key under a commented list).
func TestHelmValuesDocumentedLineByLine(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`^\s*(- )?[A-Za-z0-9_./-]+:`)
	lines := strings.Split(string(b), "\n")
	for i, line := range lines {
		if !key.MatchString(line) || i == 0 {
			continue
		}
		prev := strings.TrimSpace(lines[i-1])
		if !strings.HasPrefix(prev, "#") {
			t.Errorf("values.yaml:%d: %q has no comment on the line above", i+1, strings.TrimSpace(line))
		}
	}
}

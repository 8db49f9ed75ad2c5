package deploycheck

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// renderChart runs `helm template` on the chart with a values file ("" for
// the defaults) and returns the rendered multi-document YAML.
func renderChart(ctx context.Context, helm, chart, values string) ([]byte, error) {
	args := []string{"template", "mediarepo", chart, "--namespace", "messenger"}
	if values != "" {
		args = append(args, "--values", values)
	}
	return runHelm(ctx, helm, args...)
}

// lintChart runs `helm lint --strict` on the chart with a values file.
func lintChart(ctx context.Context, helm, chart, values string) ([]byte, error) {
	args := []string{"lint", "--strict", chart}
	if values != "" {
		args = append(args, "--values", values)
	}
	return runHelm(ctx, helm, args...)
}

func runHelm(ctx context.Context, helm string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// k8sScheme knows the API types the chart may render, and nothing else: an
// object of another kind fails to decode.
func k8sScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, autoscalingv2.AddToScheme,
		policyv1.AddToScheme, networkingv1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// decodeStrict splits rendered YAML into documents and decodes each into
// its Kubernetes API type. Unknown or duplicate fields, unknown kinds and
// wrong value types are errors (the API server would drop or refuse them).
func decodeStrict(rendered []byte) ([]runtime.Object, error) {
	scheme, err := k8sScheme()
	if err != nil {
		return nil, err
	}
	dec := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(rendered)))
	var objs []runtime.Object
	var errs []error
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, gvk, err := dec.Decode(doc, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", docSource(doc), err))
			continue
		}
		if gvk == nil {
			errs = append(errs, fmt.Errorf("%s: no kind", docSource(doc)))
			continue
		}
		objs = append(objs, obj)
	}
	return objs, errors.Join(errs...)
}

// docSource returns the "# Source: chart/templates/x.yaml" line helm puts
// above each document, for error messages.
func docSource(doc []byte) string {
	for _, line := range strings.Split(string(doc), "\n") {
		if s, ok := strings.CutPrefix(line, "# Source: "); ok {
			return s
		}
	}
	return "document"
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}

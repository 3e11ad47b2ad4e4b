// Package helm tests the Helm chart in deploy/helm/drc with Helm's own Go
// module: `helm lint`, then `helm template` with the default values and
// with ci/two-pipelines-values.yaml, every rendered manifest decoded
// strictly (an unknown field is an error) into its Kubernetes or
// prometheus-operator type. The test lives in its own package so that
// neither Helm nor the Kubernetes API types are linked into drc.
package helm

import (
	"io"
	"log"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/drc-dev/drc/config"
)

const (
	chartDir        = "drc"
	twoPipelines    = "drc/ci/two-pipelines-values.yaml"
	alertsFile      = "../prometheus/drc-alerts.yaml"
	dashboardFile   = "../grafana/drc.json"
	releaseName     = "drc"
	releaseNS       = "replication"
	secretsMountDir = "/etc/drc/secrets/"
)

// TestMain quiets Helm's chart loader, which logs through the standard
// logger each time it follows files/'s symbolic links.
func TestMain(m *testing.M) {
	log.SetOutput(io.Discard)
	os.Exit(m.Run())
}

func TestLint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values string
	}{
		{"default values", ""},
		{"two pipelines", twoPipelines},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := map[string]any{}
			if tc.values != "" {
				vals = readValues(t, tc.values)
			}
			l := lint.All(chartDir, vals, releaseNS, false)
			for _, m := range l.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				} else {
					t.Logf("helm lint: %s", m)
				}
			}
		})
	}
}

func TestTemplateDefaultValues(t *testing.T) {
	objs := render(t, map[string]any{})
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.kind+"/"+o.name)
	}
	sort.Strings(kinds)
	// No pipelines by default: only what monitors them.
	want := []string{"ConfigMap/drc-dashboard", "PrometheusRule/drc", "ServiceMonitor/drc"}
	if !slices.Equal(kinds, want) {
		t.Errorf("default values render %q, want %q", kinds, want)
	}
}

func TestTemplateTwoPipelines(t *testing.T) {
	objs := render(t, readValues(t, twoPipelines))

	deployments := map[string]*appsv1.Deployment{}
	services := map[string]*corev1.Service{}
	configMaps := map[string]*corev1.ConfigMap{}
	secrets := map[string]*corev1.Secret{}
	var monitors []*monitoringv1.ServiceMonitor
	var rules []*monitoringv1.PrometheusRule
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			deployments[v.Name] = v
		case *corev1.Service:
			services[v.Name] = v
		case *corev1.ConfigMap:
			configMaps[v.Name] = v
		case *corev1.Secret:
			secrets[v.Name] = v
		case *monitoringv1.ServiceMonitor:
			monitors = append(monitors, v)
		case *monitoringv1.PrometheusRule:
			rules = append(rules, v)
		}
	}

	type deployment struct {
		args     []string
		replicas int32
		region   string
		secret   string
		memLimit string
	}
	wants := map[string]deployment{
		"drc-shop-replicator": {[]string{"replicate"}, 1, "a", "drc-shop", ""}, // drc's own 160 MiB
		"drc-shop-applier":    {[]string{"apply"}, 1, "b", "drc-shop", "1843MiB"},
		"drc-crm-applier":     {[]string{"apply"}, 1, "b", "drc-crm", "921MiB"},
		"drc-crm-idgen":       {[]string{"idgen", "serve"}, 3, "b", "drc-crm", "230MiB"},
	}
	if got := sortedKeys(deployments); !slices.Equal(got, sortedKeys(wants)) {
		t.Fatalf("Deployments %q, want %q", got, sortedKeys(wants))
	}
	if got := sortedKeys(secrets); !slices.Equal(got, []string{"drc-shop"}) {
		t.Errorf("Secrets %q, want only drc-shop (crm names an existing Secret)", got)
	}
	for name, w := range wants {
		d := deployments[name]
		role := d.Spec.Template.Labels["app.kubernetes.io/component"]
		if d.Spec.Replicas == nil || *d.Spec.Replicas != w.replicas {
			t.Errorf("%s: replicas %v, want %d", name, d.Spec.Replicas, w.replicas)
		}
		if role != "idgen" && d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("%s: strategy %q, want Recreate: two replicators must never overlap", name, d.Spec.Strategy.Type)
		}
		pod := d.Spec.Template.Spec
		checkPodSecurity(t, name, pod)
		if len(pod.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", name, len(pod.Containers))
		}
		c := pod.Containers[0]
		if wantArgs := append(w.args, "--config", "/etc/drc/config/drc.yaml"); !slices.Equal(c.Args, wantArgs) {
			t.Errorf("%s: args %q, want %q", name, c.Args, wantArgs)
		}
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/metrics" {
			t.Errorf("%s: liveness probe %+v, want GET /metrics", name, c.LivenessProbe)
		}
		wantReady := "/metrics"
		if role == "idgen" {
			wantReady = "/healthz"
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != wantReady {
			t.Errorf("%s: readiness probe %+v, want GET %s", name, c.ReadinessProbe, wantReady)
		}
		if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
			t.Errorf("%s: resources %+v, want a memory limit and a CPU request", name, c.Resources)
		}
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		if env["GOMEMLIMIT"] != w.memLimit {
			t.Errorf("%s: GOMEMLIMIT %q, want %q (90%% of limits.memory %s)", name, env["GOMEMLIMIT"], w.memLimit, c.Resources.Limits.Memory())
		}

		// The volumes name objects the chart renders (or, for crm, the
		// Secret the values name).
		var cmName, secretName string
		for _, v := range pod.Volumes {
			switch {
			case v.ConfigMap != nil:
				cmName = v.ConfigMap.Name
			case v.Secret != nil:
				secretName = v.Secret.SecretName
				if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o440 {
					t.Errorf("%s: secret volume mode %v, want 0440 (owner root, group drc)", name, v.Secret.DefaultMode)
				}
			}
		}
		if secretName != w.secret {
			t.Errorf("%s: secret volume %q, want %q", name, secretName, w.secret)
		}
		cm, ok := configMaps[cmName]
		if !ok {
			t.Fatalf("%s: config volume names ConfigMap %q, which is not rendered", name, cmName)
		}
		cfg := parseConfig(t, name, cm.Data["drc.yaml"], secrets[secretName], env)
		if cluster := d.Labels["drc-cluster"]; cfg.Cluster != cluster {
			t.Errorf("%s: config cluster %q, want %q", name, cfg.Cluster, cluster)
		}
		if cfg.Metrics.Listen != ":9100" {
			t.Errorf("%s: metrics.listen %q with the container's environment, want :9100 (the metrics port)", name, cfg.Metrics.Listen)
		}
		if role == "idgen" && cfg.IDGen.Listen != ":7070" {
			t.Errorf("%s: idgen.listen %q with the container's environment, want :7070", name, cfg.IDGen.Listen)
		}
		if len(cfg.Kafka.Brokers) != 2 {
			t.Errorf("%s: kafka.brokers %q, want the two of the shared config", name, cfg.Kafka.Brokers)
		}

		// Its Service selects its pods, under the job name the alerts use.
		svc, ok := services[name]
		if !ok {
			t.Fatalf("%s: no Service of the same name", name)
		}
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: Service selector %v does not select the pod labels %v", name, svc.Spec.Selector, d.Spec.Template.Labels)
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: Deployment selector %v does not select its pod labels %v", name, d.Spec.Selector, d.Spec.Template.Labels)
		}
		if got := svc.Labels["drc-job"]; got != "drc-"+role {
			t.Errorf("%s: Service label drc-job %q, want %q", name, got, "drc-"+role)
		}
		if got := svc.Labels["drc-region"]; got != w.region {
			t.Errorf("%s: Service label drc-region %q, want %q", name, got, w.region)
		}
	}
	if cfg := configMaps["drc-shop"]; cfg == nil || !strings.Contains(cfg.Data["drc.yaml"], "workers: 8") {
		t.Errorf("ConfigMap drc-shop does not carry the pipeline's applier.workers: 8")
	}
	if s := secrets["drc-shop"]; s != nil && string(s.Data["source-password"]) != "source-secret" {
		t.Errorf("Secret drc-shop source-password = %q, want the value given", s.Data["source-password"])
	}

	// One ServiceMonitor, selecting every Service, job from drc-job.
	if len(monitors) != 1 {
		t.Fatalf("%d ServiceMonitors, want 1", len(monitors))
	}
	sm := monitors[0]
	if sm.Spec.JobLabel != "drc-job" {
		t.Errorf("ServiceMonitor jobLabel %q, want drc-job", sm.Spec.JobLabel)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" {
		t.Errorf("ServiceMonitor endpoints %+v, want port metrics", sm.Spec.Endpoints)
	}
	if sm.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor labels %v, want the values' release label", sm.Labels)
	}
	smSel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	for name, svc := range services {
		if !smSel.Matches(labels.Set(svc.Labels)) {
			t.Errorf("ServiceMonitor selector %v misses Service %s", sm.Spec.Selector, name)
		}
	}

	// The PrometheusRule carries deploy/prometheus/drc-alerts.yaml as it is.
	if len(rules) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(rules))
	}
	src, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var srcRules monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(src, &srcRules); err != nil {
		t.Fatalf("%s does not decode strictly as a PrometheusRule spec: %v", alertsFile, err)
	}
	if len(srcRules.Groups) == 0 {
		t.Fatalf("%s has no groups", alertsFile)
	}
	if !reflect.DeepEqual(rules[0].Spec, srcRules) {
		t.Errorf("the PrometheusRule's groups differ from %s", alertsFile)
	}

	// The dashboard ConfigMap carries deploy/grafana/drc.json.
	dash, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := configMaps["drc-dashboard"]; got == nil || strings.TrimSpace(got.Data["drc.json"]) != strings.TrimSpace(string(dash)) {
		t.Errorf("ConfigMap drc-dashboard does not hold %s", dashboardFile)
	}
}

// TestTemplateRefusesBadValues: a mistake in the values stops the render
// with a message that names it.
func TestTemplateRefusesBadValues(t *testing.T) {
	pipeline := func(kv ...any) map[string]any {
		p := map[string]any{"cluster": "shop", "roles": []any{"applier"}}
		for i := 0; i+1 < len(kv); i += 2 {
			p[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"pipelines": []any{p}}
	}
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"unknown role", pipeline("roles", []any{"replicater"}), "roles"},
		{"no roles", pipeline("roles", []any{}), "roles"},
		{"no cluster", pipeline("cluster", ""), "cluster"},
		{"secrets and existingSecret", pipeline("secrets", map[string]any{"a": "b"}, "existingSecret", "x"), "existingSecret"},
		{"memory limit not in Mi or Gi", pipeline("resources", map[string]any{"applier": map[string]any{"limits": map[string]any{"memory": "1G"}}}), "Mi or Gi"},
		{"unknown top-level key", map[string]any{"pipeline": []any{}}, "pipeline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderErr(tc.values)
			if err == nil {
				t.Fatalf("render succeeded, want an error naming %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("render error %q does not name %q", err, tc.want)
			}
		})
	}
}

// checkPodSecurity: non-root, read-only root filesystem, no privilege
// escalation, no capabilities, no service account token.
func checkPodSecurity(t *testing.T, name string, pod corev1.PodSpec) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: pod securityContext %+v, want runAsNonRoot and a non-zero runAsUser", name, psc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken not false", name)
	}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Errorf("%s: enableServiceLinks not false: Service variables would reach drc as DRC_* overrides", name)
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("%s: container securityContext %+v, want a read-only root, no privilege escalation, all capabilities dropped", name, sc)
		}
	}
}

// parseConfig reads a rendered drc.yaml with drc's own config package, as
// the pod would: the secret files it names are written to a temporary
// directory standing for /etc/drc/secrets (from the rendered Secret, or
// placeholders for a Secret managed outside the chart), and env is the
// container's environment.
func parseConfig(t *testing.T, name, text string, secret *corev1.Secret, env map[string]string) config.Config {
	t.Helper()
	dir := t.TempDir()
	for _, m := range regexp.MustCompile(regexp.QuoteMeta(secretsMountDir)+`([-._a-zA-Z0-9]+)`).FindAllStringSubmatch(text, -1) {
		data := []byte("placeholder")
		if secret != nil {
			d, ok := secret.Data[m[1]]
			if !ok {
				t.Errorf("%s: config names %s%s, but Secret %s has no key %q", name, secretsMountDir, m[1], secret.Name, m[1])
			}
			data = d
		}
		if err := os.WriteFile(filepath.Join(dir, m[1]), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	text = strings.ReplaceAll(text, secretsMountDir, dir+"/")
	cfg, err := config.Parse([]byte(text), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("%s: drc cannot read its rendered config: %v\n%s", name, err, text)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("%s: rendered config does not validate: %v", name, err)
	}
	return cfg
}

// object is one rendered manifest, decoded.
type object struct {
	kind, name string
	obj        any
}

// newObject is the typed value a kind the chart renders decodes into.
func newObject(apiVersion, kind string) (any, bool) {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, true
	case "v1 Service":
		return &corev1.Service{}, true
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1 Secret":
		return &corev1.Secret{}, true
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}, true
	case "monitoring.coreos.com/v1 PrometheusRule":
		return &monitoringv1.PrometheusRule{}, true
	}
	return nil, false
}

// render runs `helm template` on the chart with vals and decodes every
// manifest strictly into its type.
func render(t *testing.T, vals map[string]any) []object {
	t.Helper()
	manifest, err := renderErr(vals)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	var out []object
	for _, doc := range releaseutil.SplitManifests(manifest) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("manifest is not YAML: %v\n%s", err, doc)
		}
		obj, ok := newObject(meta.APIVersion, meta.Kind)
		if !ok {
			t.Fatalf("unexpected manifest %s %s:\n%s", meta.APIVersion, meta.Kind, doc)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s does not decode strictly: %v\n%s", meta.Kind, err, doc)
		}
		name := reflect.ValueOf(obj).Elem().FieldByName("ObjectMeta").Interface().(metav1.ObjectMeta).Name
		out = append(out, object{kind: meta.Kind, name: name, obj: obj})
	}
	return out
}

// renderErr is `helm template drc deploy/helm/drc -n replication` with vals
// as the -f values: the manifests as one YAML stream.
func renderErr(vals map[string]any) (string, error) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		return "", err
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = releaseName
	install.Namespace = releaseNS
	rel, err := install.Run(chrt, vals)
	if err != nil {
		return "", err
	}
	return rel.Manifest, nil
}

func readValues(t *testing.T, path string) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValuesFile(path)
	if err != nil {
		t.Fatalf("values %s: %v", path, err)
	}
	return v.AsMap()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Command kstatus prints the health that GitOps tools (Flux, Argo CD's kstatus users, kpt,
// `kubectl wait`-style pollers) compute for Kubernetes objects: status.Compute of
// sigs.k8s.io/cli-utils/pkg/kstatus/status on each object as the API server returns it.
// The operator's tests run it to check that our status conditions say what we mean to them.
//
// Usage:
//
//	kstatus [--kubeconfig PATH] GROUP/VERSION/KIND/NAMESPACE/NAME...
//
// GROUP is empty for the core group (/v1/ConfigMap/demo/settings), NAMESPACE is empty for
// cluster-scoped kinds. It prints one JSON array, an element per object in argument order:
//
//	{"object": "...", "status": "InProgress|Current|Failed|Terminating|NotFound|Unknown",
//	 "message": "...", "conditions": [{"type", "status", "reason", "message"}],
//	 "generation": 2, "observedGeneration": 1, "deleting": true, "objectConditions": [...]}
//
// conditions are kstatus' own (a Reconciling or Stalled it derived); objectConditions are the
// object's status.conditions as read, so a caller compares the verdict with the same version.
//
// An object that is missing is NotFound; one kstatus cannot judge (or one that cannot be read)
// is Unknown with the reason in its message, as the kstatus poller reports it. Bad arguments or
// an unreadable kubeconfig exit 2 with one line on stderr.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// ref is one object to judge, as named on the command line.
type ref struct {
	arg       string
	gvk       schema.GroupVersionKind
	namespace string
	name      string
}

// result is what one object's line of the output says.
type result struct {
	Object             string             `json:"object"`
	Status             status.Status      `json:"status"`
	Message            string             `json:"message"`
	Conditions         []status.Condition `json:"conditions"`
	Generation         *int64             `json:"generation,omitempty"`
	ObservedGeneration *int64             `json:"observedGeneration,omitempty"`
	// Deleting and ObjectConditions are the object's own deletionTimestamp (set or not) and
	// status.conditions, from the read kstatus judged: what a caller compares the verdict with.
	Deleting         bool             `json:"deleting,omitempty"`
	ObjectConditions []map[string]any `json:"objectConditions,omitempty"`
}

func parseRef(arg string) (ref, error) {
	parts := strings.Split(arg, "/")
	if len(parts) != 5 || parts[1] == "" || parts[2] == "" || parts[4] == "" {
		return ref{}, fmt.Errorf("%q: want GROUP/VERSION/KIND/NAMESPACE/NAME (GROUP empty for core, NAMESPACE empty for cluster-scoped)", arg)
	}
	gvk := schema.GroupVersionKind{Group: parts[0], Version: parts[1], Kind: parts[2]}
	return ref{arg: arg, gvk: gvk, namespace: parts[3], name: parts[4]}, nil
}

// resources finds kinds' resource names and scopes from the API server's discovery documents
// (GET /api/v1, /apis/GROUP/VERSION), read once per group version. client-go's discovery
// package would do it too, but it links every built-in API group: minutes more of a cold build.
type resources struct {
	client *http.Client
	host   string
	known  map[schema.GroupVersion]*metav1.APIResourceList
}

func (r *resources) find(ctx context.Context, gvk schema.GroupVersionKind) (schema.GroupVersionResource, bool, error) {
	gv := gvk.GroupVersion()
	list, ok := r.known[gv]
	if !ok {
		path := "/apis/" + gv.Group + "/" + gv.Version
		if gv.Group == "" {
			path = "/api/" + gv.Version
		}
		where, err := url.JoinPath(r.host, path)
		if err != nil {
			return schema.GroupVersionResource{}, false, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
		if err != nil {
			return schema.GroupVersionResource{}, false, err
		}
		resp, err := r.client.Do(req)
		if err != nil {
			return schema.GroupVersionResource{}, false, err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			list = &metav1.APIResourceList{} // no such group version: no such kind either
		} else if resp.StatusCode != http.StatusOK {
			return schema.GroupVersionResource{}, false, fmt.Errorf("GET %s: %s", path, resp.Status)
		} else {
			list = &metav1.APIResourceList{}
			if err := json.NewDecoder(resp.Body).Decode(list); err != nil {
				return schema.GroupVersionResource{}, false, fmt.Errorf("GET %s: %w", path, err)
			}
		}
		r.known[gv] = list
	}
	for _, res := range list.APIResources {
		if res.Kind == gvk.Kind && !strings.Contains(res.Name, "/") {
			return gv.WithResource(res.Name), res.Namespaced, nil
		}
	}
	return schema.GroupVersionResource{}, false, fmt.Errorf("the API server serves no kind %s in %s", gvk.Kind, gv)
}

func judge(ctx context.Context, client dynamic.Interface, found *resources, r ref) result {
	out := result{Object: r.arg, Conditions: []status.Condition{}}
	unknown := func(err error) result {
		out.Status, out.Message = status.UnknownStatus, err.Error()
		return out
	}
	gvr, namespaced, err := found.find(ctx, r.gvk)
	if err != nil {
		return unknown(err)
	}
	var obj *unstructured.Unstructured
	if namespaced {
		obj, err = client.Resource(gvr).Namespace(r.namespace).Get(ctx, r.name, metav1.GetOptions{})
	} else {
		obj, err = client.Resource(gvr).Get(ctx, r.name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		// As the kstatus poller reports an object that is not there.
		out.Status, out.Message = status.NotFoundStatus, "Resource not found"
		return out
	}
	if err != nil {
		return unknown(err)
	}
	if g := obj.GetGeneration(); g != 0 {
		out.Generation = &g
	}
	if og, found, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration"); found {
		out.ObservedGeneration = &og
	}
	out.Deleting = obj.GetDeletionTimestamp() != nil
	if conditions, found, _ := unstructured.NestedSlice(obj.Object, "status", "conditions"); found {
		for _, c := range conditions {
			if m, ok := c.(map[string]any); ok {
				out.ObjectConditions = append(out.ObjectConditions, m)
			}
		}
	}
	computed, err := status.Compute(obj)
	if err != nil {
		return unknown(err)
	}
	out.Status, out.Message = computed.Status, computed.Message
	if computed.Conditions != nil {
		out.Conditions = computed.Conditions
	}
	return out
}

func run() error {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file (default $KUBECONFIG)")
	timeout := flag.Duration("timeout", 30*time.Second, "give up on the API server after this long")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: kstatus [--kubeconfig PATH] [--timeout 30s] GROUP/VERSION/KIND/NAMESPACE/NAME...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		return errors.New("name at least one object: GROUP/VERSION/KIND/NAMESPACE/NAME")
	}
	refs := make([]ref, 0, flag.NArg())
	for _, arg := range flag.Args() {
		r, err := parseRef(arg)
		if err != nil {
			return err
		}
		refs = append(refs, r)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	config.Timeout = *timeout
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	httpClient, err := rest.HTTPClientFor(config)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	found := &resources{client: httpClient, host: config.Host, known: map[schema.GroupVersion]*metav1.APIResourceList{}}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	results := make([]result, 0, len(refs))
	for _, r := range refs {
		results = append(results, judge(ctx, client, found, r))
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(results)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: error:", err)
		os.Exit(2)
	}
}

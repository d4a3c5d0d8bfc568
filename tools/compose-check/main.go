// Command compose-check loads docker-compose.yml, with the .env beside it, through
// compose-go: the loader `docker compose` itself uses, with the same options. It fails
// (exit 1) where `docker compose up` would, and also where compose would only warn:
//
//   - the file does not load: schema or type errors, depends_on naming an undefined
//     service, a dependency cycle;
//   - a ${VAR} is set neither in .env nor given a default (compose warns and substitutes an
//     empty string);
//   - a service waits for another with condition service_healthy, but that one has no
//     healthcheck.
//
// On success it prints one line per service and then "ok".
//
//	go run . [project directory, default "."]
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
)

func main() {
	dir := "."
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := check(dir); err != nil {
		fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("ok")
}

func check(dir string) error {
	envFile := filepath.Join(dir, ".env")
	// What .env alone defines: a variable that only the caller's shell happens to set
	// still counts as undefined, since the stack must come up from a fresh checkout.
	dotEnv, err := dotenv.GetEnvFromFile(map[string]string{}, []string{envFile})
	if err != nil {
		return err
	}
	unset := map[string]bool{}
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(dir, "docker-compose.yml")},
		cli.WithWorkingDirectory(dir),
		cli.WithOsEnv,
		cli.WithEnvFiles(envFile),
		cli.WithDotEnv,
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
		cli.WithNormalization(true),
		cli.WithLoadOptions(func(o *loader.Options) {
			if o.Interpolate != nil { // nil while only the file list is resolved
				o.Interpolate.Substitute = substituteRecordingUnset(dotEnv, unset)
			}
		}),
	)
	if err != nil {
		return err
	}
	// LoadProject is what the deprecated cli.ProjectFromOptions calls.
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		return fmt.Errorf("docker-compose.yml does not load: %w", err)
	}
	if len(unset) > 0 {
		return fmt.Errorf("docker-compose.yml uses variables set neither in %s nor by a default: %s",
			envFile, strings.Join(sortedKeys(unset), ", "))
	}

	var problems []error
	for _, name := range project.ServiceNames() {
		service := project.Services[name]
		var deps []string
		for _, dep := range sortedKeys(service.DependsOn) {
			condition := service.DependsOn[dep].Condition
			deps = append(deps, dep+":"+condition)
			if condition == types.ServiceConditionHealthy && !hasHealthcheck(project.Services[dep]) {
				problems = append(problems, fmt.Errorf(
					"service %q depends on %q with condition service_healthy, but %q has no healthcheck",
					name, dep, dep))
			}
		}
		test := "none"
		if hasHealthcheck(service) {
			test = strings.Join(service.HealthCheck.Test, " ")
		}
		fmt.Printf("%s image=%s depends_on=[%s] healthcheck=[%s]\n",
			name, service.Image, strings.Join(deps, " "), test)
	}
	return errors.Join(problems...)
}

// substituteRecordingUnset is compose-go's own substitution, except that every variable
// that .env does not define and that has no default is recorded in unset. Compose only
// logs those ("The X variable is not set. Defaulting to a blank string.").
func substituteRecordingUnset(dotEnv map[string]string, unset map[string]bool) func(string, template.Mapping) (string, error) {
	replace := func(match string, mapping template.Mapping, cfg *template.Config) (string, error) {
		var last string
		fromDotEnv := func(name string) (string, bool) {
			last = name
			value, ok := dotEnv[name]
			return value, ok
		}
		// Not applied and no error: neither set nor defaulted. The variable is then the
		// last name looked up.
		if _, applied, err := template.DefaultReplacementAppliedFunc(match, fromDotEnv, cfg); err == nil && !applied {
			unset[last] = true
		}
		return template.DefaultReplacementFunc(match, mapping, cfg)
	}
	return func(tmpl string, mapping template.Mapping) (string, error) {
		return template.SubstituteWithOptions(tmpl, mapping,
			template.WithoutLogging, template.WithReplacementFunction(replace))
	}
}

func hasHealthcheck(service types.ServiceConfig) bool {
	hc := service.HealthCheck
	return hc != nil && !hc.Disable && len(hc.Test) > 0 && hc.Test[0] != "NONE"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

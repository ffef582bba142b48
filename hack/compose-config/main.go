// compose-config: `docker compose config` without Docker. It loads a compose file with
// compose-go, the library Compose v2 itself loads, interpolates and validates projects with
// (the Compose Specification's JSON schema, then the model's own checks), using the env file
// and profiles as `docker compose --env-file F --profile P config` would, and prints the
// resolved project as YAML. Exit status 1 and the loader's error on stderr when the file is
// invalid. Built by hack/build-compose-config.sh; the compose tests run it.
//
// Usage: compose-config [--env-file FILE] [--profile NAME]... FILE
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var profiles list
	envFile := flag.String("env-file", "", "the env file (default: .env beside the compose file)")
	flag.Var(&profiles, "profile", "a profile to enable (repeatable)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: compose-config [--env-file FILE] [--profile NAME]... FILE")
		os.Exit(2)
	}
	file, err := filepath.Abs(flag.Arg(0))
	if err != nil {
		fail(err)
	}
	options := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(filepath.Dir(file)),
		cli.WithOsEnv,
		cli.WithProfiles(profiles),
		cli.WithName("compose-config"),
	}
	if *envFile != "" {
		options = append(options, cli.WithEnvFiles(*envFile))
	} else {
		options = append(options, cli.WithEnvFiles())
	}
	options = append(options, cli.WithDotEnv)
	opts, err := cli.NewProjectOptions([]string{file}, options...)
	if err != nil {
		fail(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalYAML()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(1)
}

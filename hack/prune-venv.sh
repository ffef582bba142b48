#!/bin/sh
# What an image's venv carries and never runs, deleted at the end of its build stage
# (Dockerfile.agent, Dockerfile.operator, Dockerfile.ui; bench/image_sizes.py measures the same).
#   sh hack/prune-venv.sh [--sourceless] /opt/venv        (a venv, or a site-packages directory)
set -eu
sourceless=
if [ "${1:-}" = --sourceless ]; then
	sourceless=1
	shift
fi
root=$1
site=$root
for dir in "$root"/lib/python3*/site-packages; do
	[ -d "$dir" ] && site=$dir
done
[ -d "$site" ] || { echo "prune-venv: no site-packages under $root" >&2; exit 2; }

# pip and setuptools: an image installs nothing once built (14 MB and 8 MB).
rm -rf "$site"/pip "$site"/pip-*.dist-info "$site"/setuptools "$site"/setuptools-*.dist-info \
	"$site"/pkg_resources "$site"/_distutils_hack "$site"/distutils-precedence.pth
rm -f "$root"/bin/pip "$root"/bin/pip3 "$root"/bin/pip3.*

# botocore's service models (all of AWS, 23 MB): only what the s3 store calls (S3, DynamoDB) and
# what its credential providers call (STS for IRSA's web identity, SSO and SSO-OIDC, sign-in).
# tests/stores/test_pruned_botocore.py runs the store on a botocore pruned by this script.
if [ -d "$site/botocore/data" ]; then
	for service in "$site"/botocore/data/*/; do
		case $(basename "$service") in
		s3 | dynamodb | sts | sso | sso-oidc | signin) ;;
		*) rm -rf "$service" ;;
		esac
	done
fi

# Test suites shipped inside packages, never imported by them (google-genai's: 5 MB).
rm -rf "$site"/google/genai/tests

# --sourceless (the agent/gateway image): third-party code ships as bytecode only. Each module is
# compiled to a .pyc beside it (what Python imports when there is no source, as fast as from
# __pycache__), then its .py, its __pycache__ copy and the type stubs go: 60 MB of the agent's
# 193. A traceback through third-party code keeps file names and line numbers, not the lines.
# Source stays where it is read at run time: our own packages (whole tracebacks), and anyio,
# which makes its lazy imports from its __init__.py's source (without it, `import anyio` loads
# all 39 of its modules, 0.1 s). Other readers of source (pydantic's attribute docstrings,
# langchain's lambda names, FastAPI's endpoint context) read ours, or fall back when there is
# none. tests/test_image_env.py runs each provider's SDK, the CLI, a gateway and an agent on an
# environment pruned by this script.
if [ -n "$sourceless" ]; then
	python=$root/bin/python
	[ -x "$python" ] || python=python3
	keep="agent_runtime agents_operator anyio"
	set --
	for entry in "$site"/*; do
		case " $keep " in *" $(basename "$entry") "*) ;; *) set -- "$@" "$entry" ;; esac
	done
	# -b: a legacy .pyc beside each .py; a file that does not compile fails the build.
	"$python" -m compileall -q -b -j 0 "$@" >/dev/null
	set --
	for name in $keep; do
		set -- "$@" -path "$site/$name" -prune -o
	done
	find "$site" "$@" -name '*.py' -type f \
		-exec sh -c 'for py; do [ ! -f "${py}c" ] || rm "$py"; done' sh {} +
	find "$site" "$@" -name '*.pyi' -type f -exec rm -f {} +
	find "$site" "$@" -name __pycache__ -type d -prune -exec rm -rf {} +
fi

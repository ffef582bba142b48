#!/bin/sh
# What an image's venv carries and never runs, deleted at the end of its build stage
# (Dockerfile.agent, Dockerfile.operator, Dockerfile.ui; bench/image_sizes.py measures the same).
#   sh hack/prune-venv.sh /opt/venv        (a venv, or a site-packages directory)
set -eu
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

// Package deploycheck checks the deployment files statically, since no
// Docker engine runs where the tests do: deploy/compose/docker-compose.yml
// (parsed with the compose-spec loader), the Dockerfiles in deploy/docker
// (parsed with BuildKit's parser), the reverse proxy's routes in
// deploy/compose/Caddyfile, the mediarepo configuration of the compose
// set-up (config.Load over the secret files deploy/compose/make-secrets
// makes), and that README.md's five-minute tour is the one scripts/tour
// runs. The package holds the checks; its tests apply them to the
// repository's files and to broken examples.
package deploycheck

"""The local Kubernetes cluster of the test suite: built here from Go modules and Debian packages."""

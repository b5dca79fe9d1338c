//go:build tools

// Package tools pins kube-router's command, built from this module so that the dependencies flagged in
// v2.1.0 (the only release the proxy serves here) are bumped by this go.mod, not kube-router's own.
package tools

import (
	_ "github.com/cloudnativelabs/kube-router/v2/pkg/cmd"
)

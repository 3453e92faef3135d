// Package bench runs the whole-path benchmark suites behind `sluice bench`.
package bench

import (
	"context"
	"fmt"
	"io"
)

// Main runs `sluice bench ARGS`.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return fmt.Errorf("no benchmark suites yet")
}

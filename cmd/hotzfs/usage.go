package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// positional is the Args check of every command with a fixed number of arguments: one for each description,
// named as in the command's Use line ("failback GUEST"); without descriptions the command takes none. A
// wrong count is a usage error that names what is missing.
func positional(desc ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		names := useArgs(cmd.Use)
		name := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
		switch {
		case len(args) < len(desc):
			i := len(args)
			return usagef("%s needs %s: %s (usage: %s)", name, names[i], desc[i], cmd.UseLine())
		case len(args) > len(desc) && len(desc) == 0:
			return usagef("%s takes no arguments, not %q (usage: %s)", name, args, cmd.UseLine())
		case len(args) > len(desc):
			return usagef("%s takes %s, not %d arguments %q (usage: %s)", name, strings.Join(names, " "),
				len(args), args, cmd.UseLine())
		}
		return nil
	}
}

// useArgs returns the argument names of a Use line: its words in capitals outside brackets.
func useArgs(use string) []string {
	var names []string
	depth := 0
	for _, w := range strings.Fields(use)[1:] {
		open := depth == 0 && !strings.HasPrefix(w, "[")
		depth += strings.Count(w, "[") - strings.Count(w, "]")
		if open && w == strings.ToUpper(w) && !strings.HasPrefix(w, "-") {
			names = append(names, w)
		}
	}
	return names
}

// commandGroup makes cmd (root, config, certs) refuse an unknown command as a usage error, and print its
// help when called alone.
func commandGroup(cmd *cobra.Command) *cobra.Command {
	cmd.SuggestionsMinimumDistance = 2
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		hint := ""
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			hint = fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
		}
		return usagef("unknown command %q%s: %s --help lists the commands", args[0], hint, cmd.CommandPath())
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return cmd
}

// requiredFlags refuses a command run without a flag it marks required, as a usage error naming the flag and
// what it is for. The root runs it before cobra's own check, whose error would say neither.
func requiredFlags(cmd *cobra.Command) error {
	var missing []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if req := f.Annotations[cobra.BashCompOneRequiredFlag]; len(req) > 0 && req[0] == "true" && !f.Changed {
			missing = append(missing, fmt.Sprintf("--%s (%s)", f.Name, f.Usage))
		}
	})
	if len(missing) == 0 {
		return nil
	}
	name := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	return usagef("%s needs %s", name, strings.Join(missing, " and "))
}

// choice is a flag value that must be one of a fixed list; anything else is refused when the flag is parsed.
type choice struct {
	value   string
	allowed []string
}

func (c *choice) String() string { return c.value }
func (c *choice) Type() string   { return "string" }

func (c *choice) Set(s string) error {
	for _, a := range c.allowed {
		if strings.EqualFold(s, a) {
			c.value = a
			return nil
		}
	}
	return fmt.Errorf("use one of %s", strings.Join(c.allowed, ", "))
}

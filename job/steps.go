package job

import "errors"

// Step is one of the three steps of a run; the status records each one's latest outcome.
type Step string

// The steps, in the order a run does them.
const (
	StepSnapshot  Step = "snapshot"
	StepReplicate Step = "replicate"
	StepPrune     Step = "prune"
)

// List returns the steps s selects, in the order a run does them.
func (s Steps) List() []Step {
	return s.among(StepSnapshot, StepReplicate, StepPrune)
}

// among returns those of candidates that s selects.
func (s Steps) among(candidates ...Step) []Step {
	on := map[Step]bool{StepSnapshot: s.Snapshot, StepReplicate: s.Replicate, StepPrune: s.Prune}
	var out []Step
	for _, c := range candidates {
		if on[c] {
			out = append(out, c)
		}
	}
	return out
}

// failures collects a run's errors: each once, for Report.Err, and under every step it made fail.
type failures struct {
	all    []error
	byStep map[Step][]error
}

// add records err (nil is nothing) as a failure of steps.
func (f *failures) add(err error, steps ...Step) {
	if err == nil {
		return
	}
	f.all = append(f.all, err)
	f.blame(err, steps)
}

// addAll records each of errs as a failure of step.
func (f *failures) addAll(errs []error, step Step) {
	for _, err := range errs {
		f.add(err, step)
	}
}

// stopped records err, already added, as the failure of those steps that have none: the steps it kept from
// running.
func (f *failures) stopped(err error, steps []Step) {
	for _, s := range steps {
		if len(f.byStep[s]) == 0 {
			f.blame(err, []Step{s})
		}
	}
}

func (f *failures) blame(err error, steps []Step) {
	if f.byStep == nil {
		f.byStep = map[Step][]error{}
	}
	for _, s := range steps {
		f.byStep[s] = append(f.byStep[s], err)
	}
}

// err joins every failure (nil when there is none).
func (f *failures) err() error { return errors.Join(f.all...) }

// bySteps joins each step's failures.
func (f *failures) bySteps() map[Step]error {
	out := map[Step]error{}
	for s, errs := range f.byStep {
		out[s] = errors.Join(errs...)
	}
	return out
}

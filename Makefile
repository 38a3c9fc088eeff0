# hotzfs — build and test. `make test` is the whole suite (what CI runs); `make demo` the end-to-end demo.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: build test test-unit test-zfs test-guest test-e2e vm-images bench demo clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/hotzfs ./cmd/hotzfs

test:
	test/all.sh

test-unit:
	test/all.sh unit

test-zfs:
	test/all.sh zfs

test-guest:
	test/all.sh guest

test-e2e:
	test/all.sh e2e

vm-images:
	test/vm/build-image.sh all

demo:
	demo/run.sh

clean:
	rm -rf bin dist

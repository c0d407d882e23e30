# credhost — see README.md. The two commands a fresh machine needs:
#   make demo   build everything and get a token from the built-in emulator
#   make test   every test, with the race detector and bounded fuzzing

GO        ?= go
BIN       ?= $(CURDIR)/bin
# make install: credhost and credhost-cli into $(PREFIX)/bin, the plugins
# into $(PREFIX)/libexec/credhost (host.InstallDir: found there by the CLI
# and the sdk alike), each pinned by SHA-256 in PIN_CONFIG's
# [plugins.pins]: the system file (/etc/credhost/config.toml) when root
# installs, else the user's config file (credhost-cli's default).
PREFIX    ?= /usr/local
PIN_CONFIG ?= $(if $(filter 0,$(shell id -u)),/etc/credhost/config.toml,)
PLUGINS   ?= $(notdir $(wildcard plugins/*))
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
# Static binaries: with cgo, net and os/user link libc dynamically, and the
# dynamic loader costs a cached `credhost token` (a whole process) about
# 4 ms, a third of its run. Nothing here needs cgo (the race detector
# does, so only the build goes without it).
STATIC    := CGO_ENABLED=0
FUZZTIME  ?= 10s
# Pinned code generators for `make proto`.
BUF_VERSION               := v1.75.0
PROTOC_GEN_GO_VERSION     := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
TOOLS     := $(BIN)/tools

.PHONY: all build install install-bin demo test test-unit test-examples fuzz proto vet clean

all: build

build:
	@mkdir -p $(BIN)
	$(STATIC) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/credhost-cli ./cmd/credhost
	$(STATIC) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/credhost ./cmd/credhost/fast
	@for p in $(PLUGINS); do \
		echo "$(GO) build -o $(BIN)/credhost-plugin-$$p ./plugins/$$p"; \
		$(STATIC) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/credhost-plugin-$$p ./plugins/$$p || exit 1; \
	done

install: build install-bin

# install-bin installs what $(BIN) holds, without building (tests use it).
install-bin:
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/libexec/credhost
	install -m 0755 $(BIN)/credhost $(BIN)/credhost-cli $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	$(DESTDIR)$(PREFIX)/bin/credhost-cli man > $(DESTDIR)$(PREFIX)/share/man/man1/credhost.1
	@for p in $(PLUGINS); do \
		$(DESTDIR)$(PREFIX)/bin/credhost-cli plugins install --pin --plugin-dir $(DESTDIR)$(PREFIX)/libexec/credhost \
			$(if $(PIN_CONFIG),--config $(PIN_CONFIG)) $(BIN)/credhost-plugin-$$p || exit 1; \
	done

demo: build
	@bash examples/demo/demo.sh $(BIN)

# The whole suite: vet, every package under -race (packages in parallel),
# the out-of-tree example modules, then each fuzz target for $(FUZZTIME).
test: vet test-unit test-examples fuzz

vet:
	$(GO) vet ./...

test-unit:
	$(GO) test -race -count=1 -timeout 15m ./...

# Example plugins are modules of their own (as a third party's would be),
# which ./... does not reach.
EXAMPLE_MODULES := examples/plugin-githuboidc
test-examples:
	@for m in $(EXAMPLE_MODULES); do \
		echo "cd $$m && $(GO) vet ./... && $(GO) test -race -count=1 ./..."; \
		(cd $$m && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 10m ./...) || exit 1; \
	done

fuzz:
	@GO=$(GO) bash scripts/fuzz.sh $(FUZZTIME)

proto:
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	cd core/proto && PATH=$(TOOLS):$$PATH buf lint && PATH=$(TOOLS):$$PATH buf generate

clean:
	rm -rf $(BIN)

package main

import (
	"testing"

	"github.com/hotzfs/hotzfs/config"
)

func TestReceiverRetentionGoesToAppendOnlyClients(t *testing.T) {
	cfg, err := config.ParseReceiver("receiver.yaml", []byte(`root: tank/backup
clients:
  web01: {}
  hv2: {allow_prune: false, allow_clone: true}
retention: {keep_last: 3, daily: 7}
`))
	if err != nil {
		t.Fatal(err)
	}
	clients, err := receiverClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c := clients["web01"]; !c.AllowPrune || c.AllowClone || c.Retention != nil {
		t.Errorf("web01 (may prune): %+v, want no receiver retention and no clones", c)
	}
	c := clients["hv2"]
	if c.AllowPrune || !c.AllowClone || c.Retention == nil || c.Retention.KeepLast != 3 || c.Retention.Daily != 7 {
		t.Fatalf("hv2 (append-only, allow_clone): %+v, want the receiver's retention and clones", c)
	}
}

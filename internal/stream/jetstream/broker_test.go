package jetstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/stream/jetstream"
)

func fetch(t testing.TB, c stream.Consumer, max int, wait time.Duration) []*stream.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait+5*time.Second)
	defer cancel()
	msgs, err := c.Fetch(ctx, max, wait)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return msgs
}

func consumer(t testing.TB, b *jetstream.Broker, cfg stream.ConsumerConfig) stream.Consumer {
	t.Helper()
	c, err := b.Consumer(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Consumer(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func pending(t testing.TB, c stream.Consumer) uint64 {
	t.Helper()
	n, err := c.Pending(context.Background())
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	return n
}

func TestPublishFetchAck(t *testing.T) {
	modes(t, jetstream.Options{}, func(t *testing.T, open func() *jetstream.Broker) {
		b := open()
		ensure(t, b, stream.Config{Name: "events"})
		before := time.Now().Add(-time.Second)
		for i := 1; i <= 10; i++ {
			ack := publish(t, b, "events", fmt.Appendf(nil, "m%d", i))
			if ack.Stream != "events" || ack.Seq != uint64(i) {
				t.Fatalf("ack %d = %+v", i, ack)
			}
		}
		after := time.Now().Add(time.Second)
		c := consumer(t, b, stream.ConsumerConfig{Stream: "events", Durable: "proc"})
		if n := pending(t, c); n != 10 {
			t.Fatalf("Pending before fetch = %d, want 10", n)
		}
		// Fetch returns what is there without waiting for a full batch.
		start := time.Now()
		msgs := fetch(t, c, 100, 3*time.Second)
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("Fetch of available messages took %v", d)
		}
		if len(msgs) != 10 {
			t.Fatalf("fetched %d messages, want 10", len(msgs))
		}
		for i, m := range msgs {
			if m.Seq != uint64(i+1) || string(m.Data) != fmt.Sprintf("m%d", i+1) || m.Delivered != 1 || m.Stream != "events" {
				t.Errorf("msg %d = seq %d data %q delivered %d stream %q", i, m.Seq, m.Data, m.Delivered, m.Stream)
			}
			if m.Time.Before(before) || m.Time.After(after) {
				t.Errorf("msg %d time %v outside [%v, %v]", i, m.Time, before, after)
			}
		}
		if n := pending(t, c); n != 10 {
			t.Errorf("Pending with 10 unacked = %d, want 10", n)
		}
		for _, m := range msgs {
			if err := m.Ack(); err != nil {
				t.Fatalf("Ack: %v", err)
			}
		}
		if n := pending(t, c); n != 0 {
			t.Errorf("Pending after acks = %d, want 0", n)
		}
		// Nothing left: an empty result and no error after the wait.
		start = time.Now()
		if msgs := fetch(t, c, 10, 200*time.Millisecond); len(msgs) != 0 {
			t.Fatalf("fetched %d messages from a drained consumer", len(msgs))
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("empty Fetch took %v, want about 200ms", d)
		}
		// A waiting Fetch returns as soon as a message arrives, not after
		// the whole wait.
		go func() {
			time.Sleep(150 * time.Millisecond)
			if _, err := b.Publish(context.Background(), "events", []byte("late")); err != nil {
				t.Errorf("Publish: %v", err)
			}
		}()
		start = time.Now()
		msgs = fetch(t, c, 100, 5*time.Second)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("waiting Fetch took %v after a message arrived", d)
		}
		if len(msgs) != 1 || string(msgs[0].Data) != "late" || msgs[0].Seq != 11 {
			t.Fatalf("waiting Fetch got %d messages", len(msgs))
		}
		if err := msgs[0].Ack(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRedeliveryAfterAckWait(t *testing.T) {
	modes(t, jetstream.Options{}, func(t *testing.T, open func() *jetstream.Broker) {
		b := open()
		ensure(t, b, stream.Config{Name: "events"})
		publish(t, b, "events", []byte("x"))
		c := consumer(t, b, stream.ConsumerConfig{Stream: "events", Durable: "proc", AckWait: 300 * time.Millisecond})
		msgs := fetch(t, c, 10, time.Second)
		if len(msgs) != 1 || msgs[0].Delivered != 1 {
			t.Fatalf("first fetch: %d messages", len(msgs))
		}
		// Not acknowledged: it comes back after AckWait.
		start := time.Now()
		msgs = fetch(t, c, 10, 3*time.Second)
		if len(msgs) != 1 || msgs[0].Seq != 1 || msgs[0].Delivered != 2 {
			t.Fatalf("redelivery: %d messages", len(msgs))
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("redelivered after %v, before AckWait", d)
		}
		if err := msgs[0].Ack(); err != nil {
			t.Fatal(err)
		}
		if msgs := fetch(t, c, 10, 600*time.Millisecond); len(msgs) != 0 {
			t.Fatalf("acked message delivered again")
		}
	})
}

func TestNakWithDelayAndTerm(t *testing.T) {
	modes(t, jetstream.Options{}, func(t *testing.T, open func() *jetstream.Broker) {
		b := open()
		ensure(t, b, stream.Config{Name: "events"})
		publish(t, b, "events", []byte("a"))
		publish(t, b, "events", []byte("b"))
		c := consumer(t, b, stream.ConsumerConfig{Stream: "events", Durable: "proc"})
		msgs := fetch(t, c, 10, time.Second)
		if len(msgs) != 2 {
			t.Fatalf("fetched %d", len(msgs))
		}
		start := time.Now()
		if err := msgs[0].Nak(500 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := msgs[1].Term(); err != nil {
			t.Fatal(err)
		}
		if got := fetch(t, c, 10, 100*time.Millisecond); len(got) != 0 && time.Since(start) < 400*time.Millisecond {
			t.Fatalf("nak'ed message back after %v", time.Since(start))
		}
		got := fetch(t, c, 10, 3*time.Second)
		if len(got) != 1 || got[0].Seq != 1 || got[0].Delivered != 2 {
			t.Fatalf("after nak delay: %d messages", len(got))
		}
		if d := time.Since(start); d < 400*time.Millisecond {
			t.Errorf("nak'ed message redelivered after %v, want >= 500ms", d)
		}
		if err := got[0].Ack(); err != nil {
			t.Fatal(err)
		}
		// The terminated message never comes back.
		if got := fetch(t, c, 10, 200*time.Millisecond); len(got) != 0 {
			t.Fatalf("terminated message redelivered")
		}
		if n := pending(t, c); n != 0 {
			t.Errorf("Pending = %d, want 0", n)
		}
	})
}

// TestSharedDurable runs two members of one durable consumer (the second
// on its own connection, as another process would) while messages are
// being published; every sequence must be processed exactly once.
func TestSharedDurable(t *testing.T) {
	modes(t, jetstream.Options{}, func(t *testing.T, open func() *jetstream.Broker) {
		b1 := open()
		ensure(t, b1, stream.Config{Name: "events"})
		b2 := b1
		if b1.ClientURL() != "" {
			b2 = open() // external: a second connection to the same server
		}
		const total = 400
		cfg := stream.ConsumerConfig{Stream: "events", Durable: "shared", AckWait: 30 * time.Second}
		members := []stream.Consumer{consumer(t, b1, cfg), consumer(t, b2, cfg)}

		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < total; i++ {
				if _, err := b1.Publish(context.Background(), "events", fmt.Appendf(nil, "%d", i)); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		}()

		var mu sync.Mutex
		seen := make(map[uint64]int)
		perMember := make([]int, len(members))
		deadline := time.Now().Add(15 * time.Second)
		for i, c := range members {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					mu.Lock()
					done := len(seen) == total
					mu.Unlock()
					if done {
						return
					}
					msgs, err := c.Fetch(context.Background(), 16, 100*time.Millisecond)
					if err != nil {
						t.Errorf("Fetch: %v", err)
						return
					}
					for _, m := range msgs {
						mu.Lock()
						seen[m.Seq]++
						perMember[i]++
						mu.Unlock()
						if err := m.Ack(); err != nil {
							t.Errorf("Ack: %v", err)
						}
					}
				}
			}()
		}
		wg.Wait()
		for seq := uint64(1); seq <= total; seq++ {
			if seen[seq] != 1 {
				t.Errorf("seq %d processed %d times", seq, seen[seq])
			}
		}
		if len(seen) != total {
			t.Errorf("saw %d distinct sequences, want %d", len(seen), total)
		}
		t.Logf("messages per member: %v", perMember)
	})
}

func TestGet(t *testing.T) {
	modes(t, jetstream.Options{}, func(t *testing.T, open func() *jetstream.Broker) {
		b := open()
		ctx := context.Background()
		ensure(t, b, stream.Config{Name: "events"})
		for _, s := range []string{"one", "two", "three"} {
			publish(t, b, "events", []byte(s))
		}
		m, err := b.Get(ctx, "events", 2)
		if err != nil {
			t.Fatalf("Get(2): %v", err)
		}
		if m.Seq != 2 || string(m.Data) != "two" || m.Stream != "events" || m.Time.IsZero() {
			t.Errorf("Get(2) = seq %d data %q stream %q time %v", m.Seq, m.Data, m.Stream, m.Time)
		}
		if err := m.Ack(); err == nil {
			t.Error("Ack of a message read with Get succeeded")
		}
		for _, seq := range []uint64{0, 4, 1000} {
			if _, err := b.Get(ctx, "events", seq); !errors.Is(err, stream.ErrNoMessage) {
				t.Errorf("Get(%d) error = %v, want ErrNoMessage", seq, err)
			}
		}
		if _, err := b.Get(ctx, "nosuch", 1); !errors.Is(err, stream.ErrNoStream) {
			t.Errorf("Get on missing stream: %v, want ErrNoStream", err)
		}
		// Deleted and recreated: the cached handle must not hide it.
		if err := b.DeleteStream(ctx, "events"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, "events", 1); !errors.Is(err, stream.ErrNoStream) {
			t.Errorf("Get on deleted stream: %v, want ErrNoStream", err)
		}
		ensure(t, b, stream.Config{Name: "events"})
		publish(t, b, "events", []byte("new"))
		if m, err := b.Get(ctx, "events", 1); err != nil || string(m.Data) != "new" {
			t.Errorf("Get after recreate = %v, %v", m, err)
		}
	})
}

func TestEnsureStreamAndRetention(t *testing.T) {
	modes(t, jetstream.Options{}, func(t *testing.T, open func() *jetstream.Broker) {
		b := open()
		ctx := context.Background()
		info := func(name string) stream.StreamInfo {
			t.Helper()
			infos, err := b.Streams(ctx)
			if err != nil {
				t.Fatalf("Streams: %v", err)
			}
			for _, si := range infos {
				if si.Config.Name == name {
					return si
				}
			}
			t.Fatalf("stream %q not listed in %+v", name, infos)
			return stream.StreamInfo{}
		}
		ensure(t, b, stream.Config{Name: "events"})
		ensure(t, b, stream.Config{Name: "events"}) // idempotent
		publish(t, b, "events", []byte("keep"))
		si := info("events")
		if si.Config.Retention != 24*time.Hour || si.Config.MaxBytes != 0 || si.Config.Replicas != 1 {
			t.Errorf("defaults: %+v", si.Config)
		}
		if si.Msgs != 1 || si.FirstSeq != 1 || si.LastSeq != 1 || si.Created.IsZero() {
			t.Errorf("state: %+v", si)
		}
		// Update retention and size; the messages stay.
		ensure(t, b, stream.Config{Name: "events", Retention: 2 * time.Hour, MaxBytes: 1 << 20})
		si = info("events")
		if si.Config.Retention != 2*time.Hour || si.Config.MaxBytes != 1<<20 || si.Msgs != 1 {
			t.Errorf("after update: %+v", si)
		}
		// A short retention removes messages once they are older.
		ensure(t, b, stream.Config{Name: "short", Retention: 1 * time.Second})
		if got := info("short").Config.Retention; got != time.Second {
			t.Errorf("short retention = %v", got)
		}
		publish(t, b, "short", []byte("expires"))
		if _, err := b.Get(ctx, "short", 1); err != nil {
			t.Fatalf("Get before expiry: %v", err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := b.Get(ctx, "short", 1)
			if errors.Is(err, stream.ErrNoMessage) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("message not expired after retention: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := b.DeleteStream(ctx, "short"); err != nil {
			t.Fatal(err)
		}
		if err := b.DeleteStream(ctx, "short"); !errors.Is(err, stream.ErrNoStream) {
			t.Errorf("second DeleteStream: %v, want ErrNoStream", err)
		}
		if err := b.EnsureStream(ctx, stream.Config{Name: "bad.name"}); err == nil {
			t.Error("EnsureStream accepted a name with a dot")
		}
	})
}

// TestMaxBytesBackpressure checks that a full stream refuses publishes
// instead of dropping old messages.
func TestMaxBytesBackpressure(t *testing.T) {
	modes(t, jetstream.Options{}, func(t *testing.T, open func() *jetstream.Broker) {
		b := open()
		ctx := context.Background()
		ensure(t, b, stream.Config{Name: "events", MaxBytes: 16 << 10})
		payload := bytes.Repeat([]byte("x"), 1000)
		var acked []uint64
		var perr error
		for i := 0; i < 100; i++ {
			ack, err := b.Publish(ctx, "events", payload)
			if err != nil {
				perr = err
				break
			}
			acked = append(acked, ack.Seq)
		}
		if !errors.Is(perr, stream.ErrBackpressure) {
			t.Fatalf("publish into a full stream: %v, want ErrBackpressure", perr)
		}
		if len(acked) == 0 {
			t.Fatal("nothing was accepted")
		}
		for _, seq := range acked {
			if _, err := b.Get(ctx, "events", seq); err != nil {
				t.Errorf("acked seq %d gone: %v", seq, err)
			}
		}
		// Raising the limit lets publishing continue.
		ensure(t, b, stream.Config{Name: "events", MaxBytes: 1 << 20})
		publish(t, b, "events", payload)
	})
}

func TestErrors(t *testing.T) {
	modes(t, jetstream.Options{MaxPayload: 64 << 10}, func(t *testing.T, open func() *jetstream.Broker) {
		b := open()
		ctx := context.Background()
		if _, err := b.Publish(ctx, "nosuch", []byte("x")); !errors.Is(err, stream.ErrNoStream) {
			t.Errorf("Publish to missing stream: %v, want ErrNoStream", err)
		}
		if _, err := b.Consumer(ctx, stream.ConsumerConfig{Stream: "nosuch", Durable: "d"}); !errors.Is(err, stream.ErrNoStream) {
			t.Errorf("Consumer on missing stream: %v, want ErrNoStream", err)
		}
		ensure(t, b, stream.Config{Name: "events"})
		big := make([]byte, 2<<20) // over both 64 KiB (embedded) and 1 MiB (default external)
		if _, err := b.Publish(ctx, "events", big); !errors.Is(err, jetstream.ErrTooLarge) {
			t.Errorf("Publish of 2 MiB: %v, want ErrTooLarge", err)
		}
		c := consumer(t, b, stream.ConsumerConfig{Stream: "events", Durable: "d"})
		if err := b.DeleteStream(ctx, "events"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Fetch(ctx, 1, 100*time.Millisecond); err == nil {
			t.Error("Fetch from a deleted stream's consumer succeeded")
		}
		if _, err := c.Pending(ctx); !errors.Is(err, stream.ErrNoStream) {
			t.Errorf("Pending on deleted stream: %v, want ErrNoStream", err)
		}
		c.Close()
		if _, err := c.Fetch(ctx, 1, 0); err == nil {
			t.Error("Fetch on closed consumer succeeded")
		}
	})
}

// TestRestartKeepsMessagesAndConsumerState closes the embedded broker and
// reopens its directory.
func TestRestartKeepsMessagesAndConsumerState(t *testing.T) {
	t.Parallel()
	opts := jetstream.Options{DataDir: t.TempDir()}
	b := openBroker(t, opts)
	ensure(t, b, stream.Config{Name: "events", Retention: 48 * time.Hour})
	for i := 1; i <= 50; i++ {
		publish(t, b, "events", fmt.Appendf(nil, "%d", i))
	}
	c := consumer(t, b, stream.ConsumerConfig{Stream: "events", Durable: "proc"})
	for _, m := range fetch(t, c, 20, time.Second) {
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	b = openBroker(t, opts)
	infos, err := b.Streams(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Msgs != 50 || infos[0].LastSeq != 50 || infos[0].Config.Retention != 48*time.Hour {
		t.Fatalf("after restart: %+v", infos)
	}
	c = consumer(t, b, stream.ConsumerConfig{Stream: "events", Durable: "proc"})
	if n := pending(t, c); n != 30 {
		t.Errorf("Pending after restart = %d, want 30", n)
	}
	msgs := fetch(t, c, 100, time.Second)
	if len(msgs) != 30 || msgs[0].Seq != 21 || string(msgs[0].Data) != "21" {
		t.Fatalf("after restart fetched %d messages, first %+v", len(msgs), msgs[0])
	}
	if ack := publish(t, b, "events", []byte("51")); ack.Seq != 51 {
		t.Errorf("publish after restart got seq %d", ack.Seq)
	}
}

// TestListen exposes the embedded server to external clients.
func TestListen(t *testing.T) {
	t.Parallel()
	b := openBroker(t, jetstream.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Sync: jetstream.SyncInterval})
	url := b.ClientURL()
	if url == "" {
		t.Fatal("no ClientURL with Listen set")
	}
	ensure(t, b, stream.Config{Name: "events"})
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("external client: %v", err)
	}
	defer nc.Close()
	resp, err := nc.Request(jetstream.Subject("events"), []byte("from outside"), 5*time.Second)
	if err != nil {
		t.Fatalf("publish from outside: %v", err)
	}
	t.Logf("ack: %s", resp.Data)
	m, err := b.Get(context.Background(), "events", 1)
	if err != nil || string(m.Data) != "from outside" {
		t.Fatalf("Get = %v, %v", m, err)
	}

	inproc := openBroker(t, jetstream.Options{DataDir: t.TempDir()})
	if u := inproc.ClientURL(); u != "" {
		t.Errorf("in-process broker has ClientURL %q", u)
	}
}

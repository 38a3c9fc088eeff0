package transport

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// Compression is the zstd level of a data stream, or none.
type Compression string

// Compression levels. They map to klauspost/compress zstd levels: fastest ~ zstd -1, default ~ zstd -3,
// better ~ zstd -7.
const (
	CompressionNone    Compression = "none"
	CompressionFastest Compression = "fastest"
	CompressionDefault Compression = "default"
	CompressionBetter  Compression = "better"
)

// ParseCompression reads a configured compression: none (or off), zstd (= default), fastest, default, better.
func ParseCompression(s string) (Compression, error) {
	switch s {
	case "none", "off":
		return CompressionNone, nil
	case "zstd":
		return CompressionDefault, nil
	}
	c := Compression(s)
	if err := c.Validate(); err != nil {
		return "", err
	}
	return c, nil
}

// Validate reports whether c is one of the levels above.
func (c Compression) Validate() error {
	switch c {
	case CompressionNone, CompressionFastest, CompressionDefault, CompressionBetter:
		return nil
	}
	return fmt.Errorf("unknown compression %q: use none, fastest, default or better", string(c))
}

func (c Compression) zstdLevel() zstd.EncoderLevel {
	switch c {
	case CompressionFastest:
		return zstd.SpeedFastest
	case CompressionBetter:
		return zstd.SpeedBetterCompression
	}
	return zstd.SpeedDefault
}

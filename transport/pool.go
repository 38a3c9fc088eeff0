package transport

import "sync"

// BufferPool recycles data-frame buffers between streams, so a receiver serving many streams in a row does
// not allocate a fresh buffer for each. A nil *BufferPool is valid and allocates.
type BufferPool struct {
	p sync.Pool
}

// NewBufferPool returns an empty pool.
func NewBufferPool() *BufferPool { return &BufferPool{} }

func (bp *BufferPool) get() []byte {
	if bp != nil {
		if b, ok := bp.p.Get().(*[]byte); ok {
			return *b
		}
	}
	return make([]byte, HeaderLen+dataChunk)
}

func (bp *BufferPool) put(b []byte) {
	if bp == nil || cap(b) < HeaderLen+dataChunk || cap(b) > HeaderLen+MaxDataPayload {
		return
	}
	b = b[:cap(b)]
	bp.p.Put(&b)
}

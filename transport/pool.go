package transport

// newFrameBuffer is the buffer of one data frame as a stream writer fills it.
func newFrameBuffer() []byte { return make([]byte, HeaderLen+dataChunk) }

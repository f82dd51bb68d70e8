package esp

import "sync"

// bufSize holds the largest IP packet and the ESP that wraps it.
const bufSize = 65536 + 256

// buffers pools the packet buffers of the datapath, so that sealing and
// opening a packet does not allocate.
var buffers = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

func getBuf() *[]byte  { return buffers.Get().(*[]byte) }
func putBuf(b *[]byte) { buffers.Put(b) }

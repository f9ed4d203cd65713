// Package gateway relays a browser's WebSocket conversation to Amazon Nova Sonic.
//
// Each WebSocket connection on /interact-s2s is one session with one Bedrock bidirectional stream:
//
//	browser ──text frames──▶ readLoop (inline) ──Send──▶ Bedrock stream
//	browser ◀──writeLoop◀── outbox ◀── receiveLoop ◀──Events── Bedrock stream
//
// The read loop validates every frame (protocol.go) before it reaches Bedrock and is the only goroutine
// that sends to the stream; the write loop is the only goroutine that writes to the socket. The write loop
// and the Bedrock receive loop run in an errgroup; the first failure becomes the session's close code
// (closecodes.go) and ends all three. Deadlines and sizes live in limits.go; the browser-facing protocol
// is documented in server/PROTOCOL.md.
package gateway

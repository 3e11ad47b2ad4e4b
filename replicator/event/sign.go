package event

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// SignatureHeader is the Kafka record header that authenticates a
// transaction when the replicator and the applier share a record key
// (kafka.record_key_file): on the last Kafka record a transaction has in a
// partition, the HMAC-SHA256 of that partition's records of it. A consumer
// holding the key verifies it with a Signer; one without it ignores the
// header.
const SignatureHeader = "drc-sig"

// MinKeyBytes is the shortest record key accepted.
const MinKeyBytes = 32

// Signer computes a transaction's signature in one partition: the
// HMAC-SHA256, under the shared key, of the topic, the partition and then
// each record's key and whole value (fragments joined), in order, each
// with its length. A signature therefore covers exactly the records of one
// transaction in one place of one topic: a record added, removed, changed
// or moved makes it fail.
type Signer struct {
	mac       hash.Hash
	topic     string
	partition int32
	buf       [8]byte
}

// NewSigner returns a Signer for topic and partition.
func NewSigner(key []byte, topic string, partition int32) *Signer {
	s := &Signer{mac: hmac.New(sha256.New, key), topic: topic, partition: partition}
	s.Reset()
	return s
}

// Reset starts a transaction.
func (s *Signer) Reset() {
	s.mac.Reset()
	s.write([]byte("drc-sig-v1"))
	s.write([]byte(s.topic))
	binary.BigEndian.PutUint32(s.buf[:4], uint32(s.partition))
	s.mac.Write(s.buf[:4])
}

func (s *Signer) write(b []byte) {
	binary.BigEndian.PutUint64(s.buf[:], uint64(len(b)))
	s.mac.Write(s.buf[:])
	s.mac.Write(b)
}

// Add adds one record.
func (s *Signer) Add(key, value []byte) {
	s.write(key)
	s.write(value)
}

// Sum returns the signature of the records added since Reset.
func (s *Signer) Sum() []byte { return s.mac.Sum(nil) }

// Verify reports whether sig is the signature of the records added since
// Reset.
func (s *Signer) Verify(sig []byte) bool { return len(sig) > 0 && hmac.Equal(s.mac.Sum(nil), sig) }

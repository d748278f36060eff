// SVXRPC: placeholder until its issue lands.
import CZeroMQ

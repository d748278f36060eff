// SRP: placeholder until its issue lands.
import Cryppo

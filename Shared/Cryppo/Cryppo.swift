// Cryppo: placeholder until its issue lands.
import COpenSSL

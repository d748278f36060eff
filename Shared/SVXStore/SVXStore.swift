// SVXStore: placeholder until its issue lands.
import CLibPQ

// SVXService: placeholder until its issue lands.

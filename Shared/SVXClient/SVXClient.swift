// SVXClient: placeholder until its issue lands.

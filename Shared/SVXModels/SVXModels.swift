// SVXModels: placeholder until its issue lands.

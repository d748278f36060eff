-- Items made of typed, encrypted slots; item templates; attachments. docs/ADR-005-vault.md.
-- Every user-owned table carries user_id first in its key (the Citus distribution column to come). Nothing here is
-- plaintext user data: slot values, verification keys, attachment blocks, their metadata and DEKs are Cryppo strings
-- made by the client (checked by the service, and by the CHECKs below as a last line).

-- The caller's vault record: which Keystore DEK wraps its slot values.
CREATE TABLE vault.users (
    user_id                 uuid PRIMARY KEY,
    private_dek_external_id text NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);

-- Templates: system ones (owner_id NULL, seeded below, read-only) and users' own.
CREATE TABLE vault.templates (
    template_id uuid PRIMARY KEY,
    owner_id    uuid,
    name        text NOT NULL,
    label       text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX templates_system_name ON vault.templates (name) WHERE owner_id IS NULL;
CREATE UNIQUE INDEX templates_owner_name ON vault.templates (owner_id, name) WHERE owner_id IS NOT NULL;

CREATE TABLE vault.template_slots (
    template_id uuid NOT NULL REFERENCES vault.templates (template_id) ON DELETE CASCADE,
    name        text NOT NULL,
    label       text NOT NULL,
    slot_type   text NOT NULL,
    ordinal     integer NOT NULL,
    PRIMARY KEY (template_id, name)
);

CREATE TABLE vault.items (
    user_id       uuid NOT NULL,
    item_id       uuid NOT NULL,
    template_id   uuid,
    template_name text NOT NULL,
    label         text NOT NULL,
    version       bigint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, item_id)
);
CREATE INDEX items_by_template ON vault.items (user_id, template_name, item_id);

-- A complete attachment is read-only; an attachment slot points to it (at most one slot per attachment).
CREATE TABLE vault.attachments (
    user_id            uuid NOT NULL,
    attachment_id      uuid NOT NULL,
    encrypted_metadata text NOT NULL CHECK (encrypted_metadata LIKE 'Aes256Gcm.%'),
    wrapped_dek        text NOT NULL CHECK (wrapped_dek LIKE 'Aes256Gcm.%'),
    plaintext_size     bigint NOT NULL CHECK (plaintext_size >= 0),
    block_count        integer NOT NULL CHECK (block_count >= 1),
    block_size         integer NOT NULL CHECK (block_size > 0),
    complete           boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, attachment_id)
);

CREATE TABLE vault.attachment_blocks (
    user_id         uuid NOT NULL,
    attachment_id   uuid NOT NULL,
    block_index     integer NOT NULL CHECK (block_index >= 0),
    encrypted_block text NOT NULL CHECK (encrypted_block LIKE 'Aes256Gcm.%'),
    PRIMARY KEY (user_id, attachment_id, block_index),
    FOREIGN KEY (user_id, attachment_id) REFERENCES vault.attachments (user_id, attachment_id) ON DELETE CASCADE
);

CREATE TABLE vault.slots (
    user_id                          uuid NOT NULL,
    item_id                          uuid NOT NULL,
    slot_id                          uuid NOT NULL,
    name                             text NOT NULL CHECK (name ~ '^[a-z0-9_]{1,64}$'),
    label                            text NOT NULL,
    slot_type                        text NOT NULL CHECK (slot_type IN ('key_value', 'bool', 'date', 'datetime',
        'image', 'url', 'phone_number', 'email', 'password', 'attachment', 'note_text', 'select', 'select_multiple',
        'color', 'classification_node')),
    encrypted_value                  text CHECK (encrypted_value LIKE 'Aes256Gcm.%'),
    encrypted_value_verification_key text CHECK (encrypted_value_verification_key LIKE 'Aes256Gcm.%'),
    value_verification_hash          text CHECK (value_verification_hash ~ '^[0-9a-f]{64}$'),
    ordinal                          integer NOT NULL DEFAULT 0,
    attachment_id                    uuid,
    created_at                       timestamptz NOT NULL DEFAULT now(),
    updated_at                       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, item_id, slot_id),
    UNIQUE (user_id, item_id, name),
    FOREIGN KEY (user_id, item_id) REFERENCES vault.items (user_id, item_id) ON DELETE CASCADE,
    FOREIGN KEY (user_id, attachment_id) REFERENCES vault.attachments (user_id, attachment_id)
);
CREATE UNIQUE INDEX slots_attachment ON vault.slots (user_id, attachment_id) WHERE attachment_id IS NOT NULL;

-- The system templates. Ids are derived from the names, so every replica and every database agrees.
CREATE FUNCTION vault.seed_template(p_name text, p_label text, p_description text, p_slots text[][])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t uuid := md5('svx-system-template:' || p_name)::uuid;
    i integer;
BEGIN
    INSERT INTO vault.templates (template_id, owner_id, name, label, description)
    VALUES (t, NULL, p_name, p_label, p_description);
    FOR i IN 1 .. array_length(p_slots, 1) LOOP
        INSERT INTO vault.template_slots (template_id, name, label, slot_type, ordinal)
        VALUES (t, p_slots[i][1], p_slots[i][2], p_slots[i][3], i);
    END LOOP;
END $$;

SELECT vault.seed_template('passport', 'Passport', 'A travel document issued by a country', ARRAY[
    ['full_name', 'Full name', 'key_value'], ['passport_number', 'Passport number', 'key_value'],
    ['nationality', 'Nationality', 'key_value'], ['date_of_birth', 'Date of birth', 'date'],
    ['place_of_birth', 'Place of birth', 'key_value'], ['issue_date', 'Issue date', 'date'],
    ['expiry_date', 'Expiry date', 'date'], ['issuing_authority', 'Issuing authority', 'key_value'],
    ['photo_page', 'Photo page', 'image']]);
SELECT vault.seed_template('drivers_licence', 'Driver''s licence', 'A licence to drive', ARRAY[
    ['full_name', 'Full name', 'key_value'], ['licence_number', 'Licence number', 'key_value'],
    ['date_of_birth', 'Date of birth', 'date'], ['address', 'Address', 'note_text'],
    ['licence_class', 'Licence class', 'key_value'], ['issue_date', 'Issue date', 'date'],
    ['expiry_date', 'Expiry date', 'date'], ['issuing_authority', 'Issuing authority', 'key_value']]);
SELECT vault.seed_template('bank_account', 'Bank account', 'An account at a bank', ARRAY[
    ['account_name', 'Account name', 'key_value'], ['bank_name', 'Bank name', 'key_value'],
    ['account_number', 'Account number', 'key_value'], ['branch_code', 'Branch code (BSB, sort code)', 'key_value'],
    ['iban', 'IBAN', 'key_value'], ['swift_bic', 'SWIFT / BIC', 'key_value'], ['notes', 'Notes', 'note_text']]);
SELECT vault.seed_template('payment_card', 'Payment card', 'A credit or debit card', ARRAY[
    ['cardholder_name', 'Cardholder name', 'key_value'], ['card_number', 'Card number', 'key_value'],
    ['card_type', 'Card type', 'select'], ['expiry_date', 'Expiry date', 'date'],
    ['security_code', 'Security code', 'password'], ['pin', 'PIN', 'password'], ['issuer', 'Issuer', 'key_value']]);
SELECT vault.seed_template('address', 'Address', 'A postal address', ARRAY[
    ['street', 'Street', 'key_value'], ['city', 'City', 'key_value'], ['region', 'State / region', 'key_value'],
    ['postcode', 'Postcode', 'key_value'], ['country', 'Country', 'key_value'], ['notes', 'Notes', 'note_text']]);
SELECT vault.seed_template('contact', 'Contact', 'A person and how to reach them', ARRAY[
    ['full_name', 'Full name', 'key_value'], ['phone', 'Phone', 'phone_number'], ['email', 'Email', 'email'],
    ['address', 'Address', 'note_text'], ['birthday', 'Birthday', 'date'], ['website', 'Website', 'url'],
    ['notes', 'Notes', 'note_text']]);
SELECT vault.seed_template('vehicle', 'Vehicle', 'A car, motorbike or other vehicle', ARRAY[
    ['make', 'Make', 'key_value'], ['model', 'Model', 'key_value'], ['year', 'Year', 'key_value'],
    ['registration_number', 'Registration number', 'key_value'], ['vin', 'VIN', 'key_value'],
    ['colour', 'Colour', 'color'], ['registration_expiry', 'Registration expiry', 'date'],
    ['insurance_policy', 'Insurance policy', 'key_value']]);
SELECT vault.seed_template('health_insurance', 'Health insurance', 'A health insurance policy', ARRAY[
    ['provider', 'Provider', 'key_value'], ['policy_number', 'Policy number', 'key_value'],
    ['member_number', 'Member number', 'key_value'], ['plan', 'Plan', 'key_value'],
    ['phone', 'Phone', 'phone_number'], ['website', 'Website', 'url'], ['expiry_date', 'Expiry date', 'date']]);
SELECT vault.seed_template('login', 'Login', 'A username and password for a site or app', ARRAY[
    ['website', 'Website', 'url'], ['username', 'Username', 'key_value'], ['email', 'Email', 'email'],
    ['password', 'Password', 'password'], ['notes', 'Notes', 'note_text']]);
SELECT vault.seed_template('secure_note', 'Secure note', 'Free text', ARRAY[
    ['note', 'Note', 'note_text']]);

DROP FUNCTION vault.seed_template(text, text, text, text[][]);

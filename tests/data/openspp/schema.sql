-- tests/data/openspp/schema.sql: the openSPP 17 tables imislink reads
-- (shared/contracts/openspp.md, "Database model"), as Odoo 17 with
-- OpenG2P's g2p_* modules creates them, reduced to the columns that matter.
--
-- Odoo conventions kept on purpose, because the producer must live with them:
--  - every table has id serial, create_uid, create_date, write_uid, write_date
--    (timestamp without time zone, UTC); the ORM fills them, the database has
--    no defaults for them;
--  - many2one = integer foreign key, selection = varchar key checked by the ORM
--    (CHECK constraints here only where the fixtures need the states pinned);
--  - the membership-kind link table has no write_date;
--  - no index on g2p_group_membership.individual or g2p_reg_id.partner_id
--    (Odoo creates none; see the commented block at the end);
--  - no REPLICA IDENTITY FULL: a deployment sets it (see the producer README).
--
-- Load into an empty database: psql -v ON_ERROR_STOP=1 -f schema.sql.
-- Seed rows (ID types, membership kinds, group kinds, areas) have fixed ids;
-- the generator (tests/integration/it_openspp_gen.c) relies on them.

CREATE TABLE spp_area (
	id serial PRIMARY KEY,
	name varchar NOT NULL,
	code varchar,
	parent_id integer REFERENCES spp_area (id) ON DELETE SET NULL,
	create_uid integer,
	create_date timestamp without time zone,
	write_uid integer,
	write_date timestamp without time zone
);

CREATE TABLE g2p_group_kind (
	id serial PRIMARY KEY,
	name varchar NOT NULL,
	create_uid integer,
	create_date timestamp without time zone,
	write_uid integer,
	write_date timestamp without time zone
);

CREATE TABLE res_partner (
	id serial PRIMARY KEY,
	name varchar,
	complete_name varchar,
	type varchar,
	is_company boolean,
	is_registrant boolean,
	is_group boolean,
	given_name varchar,
	family_name varchar,
	addl_name varchar,
	birthdate date,
	birthdate_not_exact boolean,
	birth_place varchar,
	gender varchar,
	registration_date date,
	address text,
	phone varchar,
	mobile varchar,
	email varchar,
	active boolean,
	disabled timestamp without time zone,
	disabled_reason text,
	disabled_by integer,
	area_id integer REFERENCES spp_area (id) ON DELETE SET NULL,
	kind integer REFERENCES g2p_group_kind (id) ON DELETE SET NULL,
	create_uid integer,
	create_date timestamp without time zone,
	write_uid integer,
	write_date timestamp without time zone
);

CREATE TABLE g2p_id_type (
	id serial PRIMARY KEY,
	name varchar NOT NULL,
	create_uid integer,
	create_date timestamp without time zone,
	write_uid integer,
	write_date timestamp without time zone
);

CREATE TABLE g2p_reg_id (
	id serial PRIMARY KEY,
	partner_id integer NOT NULL REFERENCES res_partner (id) ON DELETE CASCADE,
	id_type integer NOT NULL REFERENCES g2p_id_type (id) ON DELETE RESTRICT,
	value varchar(100),
	expiry_date date,
	status varchar CHECK (status IN ('valid', 'invalid')),
	description varchar,
	create_uid integer,
	create_date timestamp without time zone,
	write_uid integer,
	write_date timestamp without time zone,
	-- One ID of each type per registrant.  The key leads with id_type, so it
	-- does not serve lookups by partner_id (the quirk the contract names).
	CONSTRAINT g2p_reg_id_id_type_partner_id_uniq UNIQUE (id_type, partner_id)
);

CREATE TABLE g2p_phone_number (
	id serial PRIMARY KEY,
	partner_id integer NOT NULL REFERENCES res_partner (id) ON DELETE CASCADE,
	phone_no varchar NOT NULL,
	phone_sanitized varchar,
	date_collected date,
	disabled timestamp without time zone,
	disabled_by integer,
	create_uid integer,
	create_date timestamp without time zone,
	write_uid integer,
	write_date timestamp without time zone
);

CREATE TABLE g2p_group_membership_kind (
	id serial PRIMARY KEY,
	name varchar NOT NULL,
	is_unique boolean,
	create_uid integer,
	create_date timestamp without time zone,
	write_uid integer,
	write_date timestamp without time zone
);

-- "group" is a reserved word and a column name: always quote it.
CREATE TABLE g2p_group_membership (
	id serial PRIMARY KEY,
	"group" integer NOT NULL REFERENCES res_partner (id) ON DELETE CASCADE,
	individual integer NOT NULL REFERENCES res_partner (id) ON DELETE CASCADE,
	start_date timestamp without time zone,
	ended_date timestamp without time zone,
	status varchar CHECK (status IN ('active', 'inactive')),
	is_ended boolean,
	create_uid integer,
	create_date timestamp without time zone,
	write_uid integer,
	write_date timestamp without time zone
);

-- The many2many of membership kinds: Odoo names it after both tables, gives
-- it a composite key and no audit columns at all.
CREATE TABLE g2p_group_membership_g2p_group_membership_kind_rel (
	g2p_group_membership_id integer NOT NULL
		REFERENCES g2p_group_membership (id) ON DELETE CASCADE,
	g2p_group_membership_kind_id integer NOT NULL
		REFERENCES g2p_group_membership_kind (id) ON DELETE CASCADE,
	PRIMARY KEY (g2p_group_membership_id, g2p_group_membership_kind_id)
);

CREATE TABLE g2p_program (
	id serial PRIMARY KEY,
	name varchar NOT NULL,
	target_type varchar CHECK (target_type IN ('group', 'individual')),
	state varchar CHECK (state IN ('active', 'ended')),
	active boolean,
	create_uid integer,
	create_date timestamp without time zone,
	write_uid integer,
	write_date timestamp without time zone
);

CREATE TABLE g2p_program_membership (
	id serial PRIMARY KEY,
	partner_id integer NOT NULL REFERENCES res_partner (id) ON DELETE CASCADE,
	program_id integer NOT NULL REFERENCES g2p_program (id) ON DELETE CASCADE,
	state varchar NOT NULL DEFAULT 'draft'
		CHECK (state IN ('draft', 'enrolled', 'paused', 'exited', 'not_eligible', 'duplicated')),
	enrollment_date timestamp without time zone,
	exit_date date,
	deduplication_status varchar,
	create_uid integer,
	create_date timestamp without time zone,
	write_uid integer,
	write_date timestamp without time zone,
	CONSTRAINT g2p_program_membership_program_membership_unique UNIQUE (partner_id, program_id)
);

-- Seed rows, with fixed ids.
INSERT INTO g2p_id_type (id, name, create_uid, create_date, write_uid, write_date) VALUES
	(1, 'National ID', 1, '2024-01-01 00:00:00', 1, '2024-01-01 00:00:00'),
	(2, 'CHF ID', 1, '2024-01-01 00:00:00', 1, '2024-01-01 00:00:00'),
	(3, 'Birth certificate', 1, '2024-01-01 00:00:00', 1, '2024-01-01 00:00:00');
SELECT setval('g2p_id_type_id_seq', 3);

INSERT INTO g2p_group_membership_kind (id, name, is_unique, create_uid, create_date, write_uid, write_date) VALUES
	(1, 'Head', true, 1, '2024-01-01 00:00:00', 1, '2024-01-01 00:00:00'),
	(2, 'Spouse', false, 1, '2024-01-01 00:00:00', 1, '2024-01-01 00:00:00'),
	(3, 'Child', false, 1, '2024-01-01 00:00:00', 1, '2024-01-01 00:00:00'),
	(4, 'Other', false, 1, '2024-01-01 00:00:00', 1, '2024-01-01 00:00:00');
SELECT setval('g2p_group_membership_kind_id_seq', 4);

INSERT INTO g2p_group_kind (id, name, create_uid, create_date, write_uid, write_date) VALUES
	(1, 'Household', 1, '2024-01-01 00:00:00', 1, '2024-01-01 00:00:00'),
	(2, 'Cooperative', 1, '2024-01-01 00:00:00', 1, '2024-01-01 00:00:00');
SELECT setval('g2p_group_kind_id_seq', 2);

-- Areas: a region and its districts (the generator spreads households over
-- ids 2-7).
INSERT INTO spp_area (id, name, code, parent_id, create_uid, create_date, write_uid, write_date) VALUES
	(1, 'Central Region', 'CR', NULL, 1, '2024-01-01 00:00:00', 1, '2024-01-01 00:00:00'),
	(2, 'Riverside', 'CR-01', 1, 1, '2024-01-01 00:00:00', 1, '2024-01-01 00:00:00'),
	(3, 'Hillcrest', 'CR-02', 1, 1, '2024-01-01 00:00:00', 1, '2024-01-01 00:00:00'),
	(4, 'Ñuñoa Norte', 'CR-03', 1, 1, '2024-01-01 00:00:00', 1, '2024-01-01 00:00:00'),
	(5, 'Lakeside', 'CR-04', 1, 1, '2024-01-01 00:00:00', 1, '2024-01-01 00:00:00'),
	(6, 'Đồng Tháp', 'CR-05', 1, 1, '2024-01-01 00:00:00', 1, '2024-01-01 00:00:00'),
	(7, 'Marktheidenfeld', 'CR-06', 1, 1, '2024-01-01 00:00:00', 1, '2024-01-01 00:00:00');
SELECT setval('spp_area_id_seq', 7);

-- Indexes a deployment should add: Odoo creates none on these link columns,
-- so every enrichment lookup by individual or by partner scans the table.
-- The fixtures leave them out so that tests see what a stock openSPP has.
--
-- CREATE INDEX g2p_group_membership_individual_idx ON g2p_group_membership (individual);
-- CREATE INDEX g2p_group_membership_group_idx ON g2p_group_membership ("group");
-- CREATE INDEX g2p_reg_id_partner_id_idx ON g2p_reg_id (partner_id);
-- CREATE INDEX g2p_phone_number_partner_id_idx ON g2p_phone_number (partner_id);
-- CREATE INDEX g2p_program_membership_write_date_idx ON g2p_program_membership (write_date, id);

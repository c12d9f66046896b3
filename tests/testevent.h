/*
 * testevent.h - the eligibility event the benchmarks and test generators
 * start from, so they all publish the same realistic message.
 */
#ifndef IL_TESTEVENT_H
#define IL_TESTEVENT_H

/*
 * A single-person enrollment as the JSON form of EligibilityEvent: no
 * household, the registrant heads a family of its own, programme 7 of the
 * example mapping (insurance, product FCTP), area SPP-A01.  @p event_id and
 * the source's @p instance are string literals; callers change the other
 * fields per message after parsing.
 */
#define TEST_EVENT_PERSON_JSON(event_id, instance) \
    "{\"event_id\":\"" event_id "\",\"event_type\":\"MEMBERSHIP_CHANGED\"," \
    "\"source\":{\"system\":\"openspp\",\"instance\":\"" instance "\",\"kind\":\"CDC\"," \
    "\"position\":\"0/16B3748\",\"table\":\"g2p_program_membership\",\"primary_key\":\"1\"}," \
    "\"occurred_at\":\"2026-06-01T10:00:00.000Z\",\"produced_at\":\"2026-06-01T10:00:00.100Z\"," \
    "\"programme\":{\"id\":7,\"name\":\"Community health insurance\",\"target_type\":\"INDIVIDUAL\"}," \
    "\"membership\":{\"state\":\"ENROLLED\",\"previous_state\":\"DRAFT\"," \
    "\"enrollment_date\":\"2026-06-01T09:59:00.000Z\",\"exit_date\":null}," \
    "\"registrant\":{\"source_id\":1,\"external_ids\":[{\"type\":\"National ID\",\"value\":\"0\"," \
    "\"status\":\"valid\",\"expiry_date\":null,\"description\":null}],\"is_group\":false," \
    "\"name\":\"DOE, JANE\",\"given_name\":\"Jane\",\"family_name\":\"Doe\",\"addl_name\":null," \
    "\"gender\":\"Female\",\"birthdate\":\"1990-04-12\",\"birthdate_exact\":true," \
    "\"birth_place\":\"Kigali\",\"registration_date\":\"2024-01-15\"," \
    "\"phones\":[{\"number\":\"+250788000000\",\"sanitized\":\"+250788000000\",\"date_collected\":\"2024-01-15\"}]," \
    "\"email\":null,\"address\":\"Village 12\",\"area\":{\"id\":1,\"code\":\"SPP-A01\",\"name\":\"Area 1\"}}," \
    "\"household\":null}"

#endif

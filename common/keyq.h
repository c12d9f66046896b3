/*
 * keyq.h - work items serialised per key: items of one key run one at a time
 * and in arrival order, items of different keys run side by side.
 *
 * The enrollment worker pushes each event under its Kafka key; an item is
 * "ready" when it reached the front of its key's line.  il_keyq_push() says
 * whether the new item is ready at once; il_keyq_finish() removes a key's
 * front item and returns the next one, which is then ready.  A key with no
 * items left costs nothing.
 */
#ifndef IL_KEYQ_H
#define IL_KEYQ_H

#include <stdbool.h>
#include <stddef.h>

typedef struct il_keyq il_keyq;

/** @returns an empty queue; free with il_keyq_destroy(). */
il_keyq *il_keyq_new(void);
/** Frees @p q; items still queued are not touched (their owner frees them); NULL is a no-op. */
void il_keyq_destroy(il_keyq *q);
/**
 * @brief Appends @p item under @p key (@p keylen bytes, copied; may contain NULs).
 * @returns true when @p item is at the front of its key's line (ready to run).
 */
bool il_keyq_push(il_keyq *q, const void *key, size_t keylen, void *item);
/**
 * @brief Removes the front item of @p key, which must be @p item.
 * @returns the key's next item, now at the front (ready), or NULL.
 */
void *il_keyq_finish(il_keyq *q, const void *key, size_t keylen, void *item);
/** @returns the number of items queued, ready ones included. */
size_t il_keyq_count(const il_keyq *q);
/** @returns the number of keys with at least one item. */
size_t il_keyq_keys(const il_keyq *q);

#endif

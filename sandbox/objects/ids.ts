/** The id of an expandable field (`customer: 'cus_...'` or the expanded object). */
export function idOf(field: string | { readonly id: string }): string {
  return typeof field === 'string' ? field : field.id;
}

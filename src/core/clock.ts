/** Time, passed in so the core and the jobs can be tested at any moment. */
export interface Clock {
  now(): Date;
}
